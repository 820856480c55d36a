import TensorCore

/// FLUX's single-stream block over the joint sequence [text; image]: one adaLN modulation
/// (shift, scale, gate), `linear1` D -> 3D (qkv) + 4D (MLP in), per-head Q/K RMSNorm,
/// attention, and `linear2` over [attention; gelu(MLP in)] (D + 4D -> D), gated into the
/// residual. USO's LoRA: `qkv_lora` on the qkv slice of linear1 only, `proj_lora` on all of linear2.
public final class SingleStreamBlock {
    public let config: DiTConfig
    let modulation: Linear       // modulation.lin: D -> 3D
    let linear1: Linear          // D -> 3D + 4D
    let linear2: Linear          // 5D -> D
    let queryNorm: Parameter, keyNorm: Parameter
    let attention: AttentionCore

    public init(_ r: ParameterRegistry, index: Int, config c: DiTConfig) {
        config = c
        let d = c.hiddenSize, name = "single_blocks.\(index)"
        linear1 = Linear(r, "\(name).linear1", in: d, out: 3 * d + c.mlpHidden, group: .base)
        linear2 = Linear(r, "\(name).linear2", in: d + c.mlpHidden, out: d, group: .base)
        queryNorm = r.make("\(name).norm.query_norm.scale", [c.headDim], group: .base, initializer: .ones)
        keyNorm = r.make("\(name).norm.key_norm.scale", [c.headDim], group: .base, initializer: .ones)
        modulation = Linear(r, "\(name).modulation.lin", in: d, out: 3 * d, group: .base)
        linear1.attach(LoRA(r, "\(name).processor.qkv_lora", in: d, out: 3 * d, rank: c.loraRank))
        linear2.attach(LoRA(r, "\(name).processor.proj_lora", in: d + c.mlpHidden, out: d, rank: c.loraRank))
        attention = AttentionCore(heads: c.heads, headDim: c.headDim)
    }

    /// Saved values of one forward over up to `capacity` packed rows of up to `samples` samples.
    public final class Activations {
        let xIn, n, m: Tensor               // (cap, D)
        let y1: Tensor                      // (cap, 3D + 4D): linear1 output; after forward, gelu' in [:, 3D:]
        let cat: Tensor                     // (cap, D + 4D): [attention; gelu(mlp)]
        let out: Tensor                     // (cap, D): linear2 output
        let q, k, v: Tensor                 // (cap, D)
        let mod, dmod: Tensor               // (samples, 3D)
        let mean, rstd: Tensor              // (cap)
        let rrmsQ, rrmsK: Tensor            // (heads, cap)
        let cache1, cache2: Tensor?
        let attention: [AttentionCore.Activations]   // one per sample
        // Backward scratch (a `BackwardScratch`'s buffers, possibly shared with other blocks).
        let dOut, dM, dN: Tensor            // (cap, D)
        let dCat: Tensor                    // (cap, 5D)
        let dY1: Tensor                     // (cap, 7D)
        let dq, dk, dv: Tensor              // (cap, D)
        var segments: Segments

        init(_ b: SingleStreamBlock, capacity cap: Int, samples: Int, sampleCapacity: Int, scratch: BackwardScratch) {
            let c = b.config, d = c.hiddenSize
            precondition(scratch.capacity >= cap && scratch.samples >= samples, "single-block scratch smaller than the activations")
            func t(_ s: [Int]) -> Tensor { Tensor(zeros: s) }
            xIn = t([cap, d]); n = t([cap, d]); m = t([cap, d])
            y1 = t([cap, 3 * d + c.mlpHidden]); cat = t([cap, d + c.mlpHidden]); out = t([cap, d])
            q = t([cap, d]); k = t([cap, d]); v = t([cap, d])
            mod = t([samples, 3 * d]); mean = t([cap]); rstd = t([cap])
            rrmsQ = t([c.heads, cap]); rrmsK = t([c.heads, cap])
            cache1 = b.linear1.makeCache(rows: cap); cache2 = b.linear2.makeCache(rows: cap)
            attention = (0..<samples).map { _ in b.attention.makeActivations(capacity: sampleCapacity, scratch: scratch.attention) }
            dmod = scratch.dmod; dOut = scratch.dOut; dM = scratch.dM; dN = scratch.dN; dCat = scratch.dCat
            dY1 = scratch.dY1; dq = scratch.dq; dk = scratch.dk; dv = scratch.dv
            segments = Segments(capacity: samples)
        }
    }

    /// The buffers a single block's backward writes and reads within one call (gradients of
    /// its intermediate values, dP of its attention). Backward runs one block at a time, so
    /// one set serves every single block of a model's activations: it stays in cache from
    /// block to block instead of each block's own set being fetched from memory (at preset
    /// small, batch 4: 6% more samples/s and 341 -> 246 MiB peak; README, Performance).
    public final class BackwardScratch {
        let capacity: Int, samples: Int
        let dOut, dM, dN, dq, dk, dv: Tensor   // (capacity, D)
        let dCat: Tensor                       // (capacity, D + 4D)
        let dY1: Tensor                        // (capacity, 3D + 4D)
        let dmod: Tensor                       // (samples, 3D)
        let attention: Tensor                  // (sampleCapacity, sampleCapacity): dP

        /// For `samples` samples of up to `sampleCapacity` joint tokens each; `attention`: a
        /// dP buffer to share further (with the double blocks), or nil for its own.
        public init(config c: DiTConfig, sampleCapacity: Int, samples: Int, attention: Tensor? = nil) {
            let d = c.hiddenSize, cap = sampleCapacity * samples
            func t(_ s: [Int]) -> Tensor { Tensor(zeros: s) }
            capacity = cap; self.samples = samples
            dOut = t([cap, d]); dM = t([cap, d]); dN = t([cap, d]); dq = t([cap, d]); dk = t([cap, d]); dv = t([cap, d])
            dCat = t([cap, d + c.mlpHidden]); dY1 = t([cap, 3 * d + c.mlpHidden]); dmod = t([samples, 3 * d])
            self.attention = attention ?? t([sampleCapacity, sampleCapacity])
        }
    }

    /// Activations for `samples` samples of up to `capacity` joint tokens each; `scratch`
    /// shared with the model's other single blocks (nil: this block's own).
    public func makeActivations(capacity: Int, samples: Int = 1, scratch: BackwardScratch? = nil) -> Activations {
        Activations(self, capacity: capacity * samples, samples: samples, sampleCapacity: capacity,
                    scratch: scratch ?? BackwardScratch(config: config, sampleCapacity: capacity, samples: samples))
    }

    /// Updates x (rows, D) in place: samples packed by `segments` (their [text; image] rows);
    /// `sv` is silu(vec) per sample (samples, D); `rope` holds the positions of all rows.
    public func forward(_ x: UnsafeMutablePointer<Float>, segments seg: Segments, sv: UnsafePointer<Float>, rope: RotaryTable,
                        _ a: Activations) {
        let d = config.hiddenSize, hidden = config.mlpHidden, w1 = 3 * d + hidden, w2 = d + hidden, L = seg.total
        precondition(seg.count <= a.attention.count, "\(seg.count) samples, activations for \(a.attention.count)")
        a.segments.set(seg.counts)
        modulation.forward(sv, rows: seg.count, a.mod.data, cache: nil)
        a.xIn.data.update(from: x, count: L * d)
        BlockKernels.adaLNForward(seg, dim: d, x: x, mod: a.mod.data, modStride: 3 * d, shift: 0, scale: 1, n: a.n.data, m: a.m.data,
                                  mean: a.mean.data, rstd: a.rstd.data)
        linear1.forward(a.m.data, rows: L, a.y1.data, cache: a.cache1)
        BlockKernels.headRMSNormForward(rows: L, heads: config.heads, headDim: config.headDim, x: a.y1.data, xStride: w1,
                                        scale: queryNorm.data, y: a.q.data, yStride: d, rrms: a.rrmsQ.data)
        BlockKernels.headRMSNormForward(rows: L, heads: config.heads, headDim: config.headDim, x: a.y1.data + d, xStride: w1,
                                        scale: keyNorm.data, y: a.k.data, yStride: d, rrms: a.rrmsK.data)
        ElementwiseKernels.copyRows(rows: L, cols: d, from: a.y1.data + 2 * d, stride: w1, to: a.v.data, stride: d)
        rope.apply(a.q.data, rows: L, heads: config.heads, stride: d)
        rope.apply(a.k.data, rows: L, heads: config.heads, stride: d)
        // Attention per sample; its output goes into the first D columns of cat.
        for b in 0..<seg.count {
            let o = seg.offsets[b] * d
            attention.forward(q: a.q.data + o, k: a.k.data + o, v: a.v.data + o, tokens: seg.counts[b], o: a.dq.data + o, a.attention[b])
        }
        ElementwiseKernels.copyRows(rows: L, cols: d, from: a.dq.data, stride: d, to: a.cat.data, stride: w2)
        for r in 0..<L {
            // y1[:, 3D:] keeps gelu' from here: backward needs only that (no second tanh).
            ActivationKernels.geluForwardSavingSlope(hidden, h: a.y1.data + r * w1 + 3 * d, g: a.cat.data + r * w2 + d)
        }
        linear2.forward(a.cat.data, rows: L, a.out.data, cache: a.cache2)
        BlockKernels.gatedResidualForward(seg, dim: d, mod: a.mod.data, modStride: 3 * d, gate: 2, f: a.out.data, x: x)
    }

    /// On entry dx holds the gradient at the output; on exit, at the input. dsv (samples, D)
    /// accumulates. `progress` is called between the larger products (gradient sync tests its
    /// requests there).
    public func backward(_ dx: UnsafeMutablePointer<Float>, sv: UnsafePointer<Float>, dsv: UnsafeMutablePointer<Float>?,
                         rope: RotaryTable, _ a: Activations, progress: (() -> Void)? = nil) {
        let d = config.hiddenSize, hidden = config.mlpHidden, w1 = 3 * d + hidden, w2 = d + hidden
        let seg = a.segments, L = seg.total
        let mod = a.mod.data, dmod = a.dmod.data
        ElementwiseKernels.fill(UnsafeMutableBufferPointer(start: dmod, count: seg.count * 3 * d), with: 0)
        BlockKernels.gatedResidualBackward(seg, dim: d, mod: mod, modStride: 3 * d, gate: 2, f: a.out.data, dx: dx, dmod: dmod,
                                           df: a.dOut.data)
        linear2.backward(a.cat.data, rows: L, dy: a.dOut.data, dx: a.dCat.data, overwrite: true, cache: a.cache2)
        progress?()
        // MLP branch: d(mlp in) = dcat[:, D:] * gelu' (kept in y1[:, 3D:]), written into dY1[:, 3D:]; the
        // q and k columns are zeroed for the norms' accumulation, v's are copied below.
        for r in 0..<L {
            let row = a.dY1.data + r * w1
            ElementwiseKernels.fill(UnsafeMutableBufferPointer(start: row, count: 2 * d), with: 0)
            ActivationKernels.geluBackwardFromSlope(hidden, slope: a.y1.data + r * w1 + 3 * d, dy: a.dCat.data + r * w2 + d,
                                                    dx: row + 3 * d)
        }
        // Attention branch, per sample.
        ElementwiseKernels.copyRows(rows: L, cols: d, from: a.dCat.data, stride: w2, to: a.dOut.data, stride: d)
        for b in 0..<seg.count {
            let o = seg.offsets[b] * d
            attention.backward(q: a.q.data + o, k: a.k.data + o, v: a.v.data + o, tokens: seg.counts[b], dO: a.dOut.data + o,
                               dq: a.dq.data + o, dk: a.dk.data + o, dv: a.dv.data + o, a.attention[b])
        }
        progress?()
        rope.apply(a.dq.data, rows: L, heads: config.heads, stride: d, inverse: true)
        rope.apply(a.dk.data, rows: L, heads: config.heads, stride: d, inverse: true)
        BlockKernels.headRMSNormBackward(rows: L, heads: config.heads, headDim: config.headDim, x: a.y1.data, xStride: w1,
                                         dy: a.dq.data, dyStride: d, rrms: a.rrmsQ.data, scale: queryNorm.data,
                                         dx: a.dY1.data, dxStride: w1, dscale: queryNorm.gradData)
        BlockKernels.headRMSNormBackward(rows: L, heads: config.heads, headDim: config.headDim, x: a.y1.data + d, xStride: w1,
                                         dy: a.dk.data, dyStride: d, rrms: a.rrmsK.data, scale: keyNorm.data,
                                         dx: a.dY1.data + d, dxStride: w1, dscale: keyNorm.gradData)
        ElementwiseKernels.copyRows(rows: L, cols: d, from: a.dv.data, stride: d, to: a.dY1.data + 2 * d, stride: w1)
        linear1.backward(a.m.data, rows: L, dy: a.dY1.data, dx: a.dM.data, overwrite: true, cache: a.cache1)
        BlockKernels.adaLNBackward(seg, dim: d, x: a.xIn.data, n: a.n.data, mod: mod, modStride: 3 * d, shift: 0, scale: 1,
                                   dm: a.dM.data, dmod: dmod, dn: a.dN.data, mean: a.mean.data, rstd: a.rstd.data, dx: dx)
        modulation.backward(sv, rows: seg.count, dy: dmod, dx: dsv, cache: nil)
    }

    public func forwardFLOPs(rows L: Int) -> FLOPCount {
        modulation.forwardFLOPs(rows: 1) + linear1.forwardFLOPs(rows: L) + linear2.forwardFLOPs(rows: L)
            + attention.forwardFLOPs(tokens: L)
    }
}
