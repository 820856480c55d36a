import TensorCore

/// FLUX's double-stream block: image and text streams with their own weights, each
/// adaLN-modulated (6 vectors: shift, scale, gate for attention and for the MLP), joined in
/// ONE attention over [text; image], then a gated tanh-GELU MLP per stream. LoRA sits on
/// each stream's qkv and proj (USO's `qkv_lora1/proj_lora1` image, `qkv_lora2/proj_lora2` text).
public final class DoubleStreamBlock {
    /// One stream's weights (`img_*` or `txt_*`).
    final class Stream {
        let mod: Linear        // {p}_mod.lin: D -> 6D
        let qkv: Linear        // {p}_attn.qkv: D -> 3D
        let queryNorm: Parameter, keyNorm: Parameter  // (headDim)
        let proj: Linear       // {p}_attn.proj: D -> D
        let mlpIn: Linear      // {p}_mlp.0: D -> 4D
        let mlpOut: Linear     // {p}_mlp.2: 4D -> D

        init(_ r: ParameterRegistry, block: String, prefix p: String, lora: Int, config c: DiTConfig) {
            let d = c.hiddenSize
            mod = Linear(r, "\(block).\(p)_mod.lin", in: d, out: 6 * d, group: .base)
            qkv = Linear(r, "\(block).\(p)_attn.qkv", in: d, out: 3 * d, group: .base)
            queryNorm = r.make("\(block).\(p)_attn.norm.query_norm.scale", [c.headDim], group: .base, initializer: .ones)
            keyNorm = r.make("\(block).\(p)_attn.norm.key_norm.scale", [c.headDim], group: .base, initializer: .ones)
            proj = Linear(r, "\(block).\(p)_attn.proj", in: d, out: d, group: .base)
            mlpIn = Linear(r, "\(block).\(p)_mlp.0", in: d, out: c.mlpHidden, group: .base)
            mlpOut = Linear(r, "\(block).\(p)_mlp.2", in: c.mlpHidden, out: d, group: .base)
            qkv.attach(LoRA(r, "\(block).processor.qkv_lora\(lora)", in: d, out: 3 * d, rank: c.loraRank))
            proj.attach(LoRA(r, "\(block).processor.proj_lora\(lora)", in: d, out: d, rank: c.loraRank))
        }
    }

    /// One stream's saved values for `capacity` packed rows of up to `samples` samples.
    final class StreamActivations {
        let xIn, n1, m1, qkv, p, xMid, n2, m2, o: Tensor   // (cap, D) except qkv (cap, 3D)
        let h, g: Tensor                                  // (cap, 4D): gelu'(MLP in) after forward, gelu(MLP in)
        let attended: Tensor                              // (cap, D): this stream's rows of the joint attention output
        let mod, dmod: Tensor                             // (samples, 6D)
        let mean1, rstd1, mean2, rstd2: Tensor            // (cap)
        let rrmsQ, rrmsK: Tensor                          // (heads, cap)
        let qkvCache, projCache: Tensor?
        // Backward scratch (a `StreamScratch`'s buffers, possibly shared with other blocks).
        let dA, dM, dN, dAttended, dQKV: Tensor           // (cap, D) x4, (cap, 3D)
        let dG: Tensor                                    // (cap, 4D)
        var segments: Segments
        let capacity: Int

        init(_ s: Stream, capacity cap: Int, samples: Int, config c: DiTConfig, scratch: StreamScratch) {
            let d = c.hiddenSize
            precondition(scratch.capacity >= cap && scratch.samples >= samples, "double-block scratch smaller than the activations")
            func t(_ shape: [Int]) -> Tensor { Tensor(zeros: shape) }
            capacity = cap
            xIn = t([cap, d]); n1 = t([cap, d]); m1 = t([cap, d]); qkv = t([cap, 3 * d]); p = t([cap, d])
            xMid = t([cap, d]); n2 = t([cap, d]); m2 = t([cap, d]); o = t([cap, d]); attended = t([cap, d])
            h = t([cap, c.mlpHidden]); g = t([cap, c.mlpHidden])
            mod = t([samples, 6 * d])
            mean1 = t([cap]); rstd1 = t([cap]); mean2 = t([cap]); rstd2 = t([cap])
            rrmsQ = t([c.heads, cap]); rrmsK = t([c.heads, cap])
            qkvCache = s.qkv.makeCache(rows: cap); projCache = s.proj.makeCache(rows: cap)
            dmod = scratch.dmod; dA = scratch.dA; dM = scratch.dM; dN = scratch.dN; dAttended = scratch.dAttended
            dQKV = scratch.dQKV; dG = scratch.dG
            segments = Segments(capacity: samples)
        }
    }

    /// One stream's backward buffers (see `BackwardScratch`).
    public final class StreamScratch {
        let capacity: Int, samples: Int
        let dA, dM, dN, dAttended: Tensor   // (capacity, D)
        let dQKV: Tensor                    // (capacity, 3D)
        let dG: Tensor                      // (capacity, 4D)
        let dmod: Tensor                    // (samples, 6D)

        init(config c: DiTConfig, capacity cap: Int, samples: Int) {
            let d = c.hiddenSize
            func t(_ shape: [Int]) -> Tensor { Tensor(zeros: shape) }
            capacity = cap; self.samples = samples
            dA = t([cap, d]); dM = t([cap, d]); dN = t([cap, d]); dAttended = t([cap, d]); dQKV = t([cap, 3 * d])
            dG = t([cap, c.mlpHidden]); dmod = t([samples, 6 * d])
        }
    }

    /// The buffers a double block's backward writes and reads within one call: each stream's
    /// gradients of its intermediate values, the joint dQ, dK, dV, dO, and dP of the attention.
    /// Backward runs one block at a time, so one set serves every double block of a model's
    /// activations and stays in cache from block to block (as `SingleStreamBlock.BackwardScratch`).
    public final class BackwardScratch {
        let img: StreamScratch, txt: StreamScratch
        let dq, dk, dv, dO: Tensor   // (joint capacity, D)
        let attention: Tensor        // (sample capacity, sample capacity): dP

        /// For `samples` samples of up to `imageCapacity` image and `textCapacity` text tokens
        /// each; `attention`: a dP buffer to share further (with the single blocks), or nil.
        public init(config c: DiTConfig, imageCapacity: Int, textCapacity: Int, samples: Int, attention: Tensor? = nil) {
            let d = c.hiddenSize, joint = (imageCapacity + textCapacity) * samples, sample = imageCapacity + textCapacity
            img = StreamScratch(config: c, capacity: imageCapacity * samples, samples: samples)
            txt = StreamScratch(config: c, capacity: textCapacity * samples, samples: samples)
            dq = Tensor(zeros: [joint, d]); dk = Tensor(zeros: [joint, d]); dv = Tensor(zeros: [joint, d]); dO = Tensor(zeros: [joint, d])
            self.attention = attention ?? Tensor(zeros: [sample, sample])
        }
    }

    /// Saved values of one forward of the block.
    public final class Activations {
        let img: StreamActivations, txt: StreamActivations
        let q, k, v, o: Tensor            // joint rows, per sample [txt_b; img_b]
        let dq, dk, dv, dO: Tensor
        let attention: [AttentionCore.Activations]   // one per sample
        var joint: Segments

        init(_ b: DoubleStreamBlock, imageCapacity: Int, textCapacity: Int, samples: Int, scratch: BackwardScratch) {
            img = StreamActivations(b.img, capacity: imageCapacity * samples, samples: samples, config: b.config, scratch: scratch.img)
            txt = StreamActivations(b.txt, capacity: textCapacity * samples, samples: samples, config: b.config, scratch: scratch.txt)
            let joint = (imageCapacity + textCapacity) * samples, d = b.config.hiddenSize
            precondition(scratch.dq.count >= joint * d, "double-block scratch smaller than the activations")
            q = Tensor(zeros: [joint, d]); k = Tensor(zeros: [joint, d]); v = Tensor(zeros: [joint, d]); o = Tensor(zeros: [joint, d])
            dq = scratch.dq; dk = scratch.dk; dv = scratch.dv; dO = scratch.dO
            attention = (0..<samples).map { _ in
                b.attention.makeActivations(capacity: imageCapacity + textCapacity, scratch: scratch.attention)
            }
            self.joint = Segments(capacity: samples)
        }
    }

    public let config: DiTConfig
    let img: Stream, txt: Stream
    let attention: AttentionCore

    public init(_ registry: ParameterRegistry, index: Int, config: DiTConfig) {
        self.config = config
        let name = "double_blocks.\(index)"
        img = Stream(registry, block: name, prefix: "img", lora: 1, config: config)
        txt = Stream(registry, block: name, prefix: "txt", lora: 2, config: config)
        attention = AttentionCore(heads: config.heads, headDim: config.headDim)
    }

    /// Activations for `samples` samples of up to `imageCapacity` image and `textCapacity` text
    /// tokens each; `scratch` shared with the model's other double blocks (nil: this block's own).
    public func makeActivations(imageCapacity: Int, textCapacity: Int, samples: Int = 1,
                                scratch: BackwardScratch? = nil) -> Activations {
        Activations(self, imageCapacity: imageCapacity, textCapacity: textCapacity, samples: samples,
                    scratch: scratch ?? BackwardScratch(config: config, imageCapacity: imageCapacity, textCapacity: textCapacity,
                                                        samples: samples))
    }

    /// Updates img and txt in place: each stream packs its samples' rows (`imageSegments`,
    /// `textSegments`, the same samples in the same order). `sv` is silu(vec) per sample
    /// (samples, D); `rope` holds the joint positions, per sample [text; image], packed.
    public func forward(img x: UnsafeMutablePointer<Float>, imageSegments: Segments, txt y: UnsafeMutablePointer<Float>,
                        textSegments: Segments, sv: UnsafePointer<Float>, rope: RotaryTable, _ a: Activations) {
        precondition(imageSegments.count == textSegments.count && imageSegments.count <= a.attention.count,
                     "\(imageSegments.count) image and \(textSegments.count) text segments, activations for \(a.attention.count) samples")
        // Copied into the activations' own buffers (no allocation between steps).
        a.joint.set((0..<textSegments.count).lazy.map { textSegments.counts[$0] + imageSegments.counts[$0] })
        a.txt.segments.set(textSegments.counts)
        a.img.segments.set(imageSegments.counts)
        // Per stream: modulation, modulated norm, qkv, Q/K RMSNorm into the joint buffers.
        prepare(txt, a.txt, y, inSample: { _ in 0 }, sv: sv, a)
        prepare(img, a.img, x, inSample: { textSegments.counts[$0] }, sv: sv, a)
        let d = config.hiddenSize, total = a.joint.total
        rope.apply(a.q.data, rows: total, heads: config.heads, stride: d)
        rope.apply(a.k.data, rows: total, heads: config.heads, stride: d)
        for b in 0..<a.joint.count {
            let o = a.joint.offsets[b] * d
            attention.forward(q: a.q.data + o, k: a.k.data + o, v: a.v.data + o, tokens: a.joint.counts[b], o: a.o.data + o, a.attention[b])
        }
        finish(txt, a.txt, y, inSample: { _ in 0 }, a)
        finish(img, a.img, x, inSample: { textSegments.counts[$0] }, a)
    }

    /// Copies each sample's rows of this stream between the stream's packing and the joint one
    /// (`inSample(b)`: where the stream's rows start inside sample b's joint rows).
    private func moveRows(_ sa: StreamActivations, _ a: Activations, inSample: (Int) -> Int, stream: UnsafeMutablePointer<Float>,
                          streamStride: Int, joint: UnsafeMutablePointer<Float>, toJoint: Bool) {
        let d = config.hiddenSize
        for b in 0..<sa.segments.count {
            let s = stream + sa.segments.offsets[b] * streamStride, j = joint + (a.joint.offsets[b] + inSample(b)) * d
            if toJoint {
                ElementwiseKernels.copyRows(rows: sa.segments.counts[b], cols: d, from: s, stride: streamStride, to: j, stride: d)
            } else {
                ElementwiseKernels.copyRows(rows: sa.segments.counts[b], cols: d, from: j, stride: d, to: s, stride: streamStride)
            }
        }
    }

    private func prepare(_ s: Stream, _ sa: StreamActivations, _ x: UnsafeMutablePointer<Float>, inSample: (Int) -> Int,
                         sv: UnsafePointer<Float>, _ a: Activations) {
        let d = config.hiddenSize, seg = sa.segments, rows = seg.total
        s.mod.forward(sv, rows: seg.count, sa.mod.data, cache: nil)
        sa.xIn.data.update(from: x, count: rows * d)
        BlockKernels.adaLNForward(seg, dim: d, x: x, mod: sa.mod.data, modStride: 6 * d, shift: 0, scale: 1,
                                  n: sa.n1.data, m: sa.m1.data, mean: sa.mean1.data, rstd: sa.rstd1.data)
        s.qkv.forward(sa.m1.data, rows: rows, sa.qkv.data, cache: sa.qkvCache)
        for b in 0..<seg.count {
            let r = seg.offsets[b], j = (a.joint.offsets[b] + inSample(b)) * d
            BlockKernels.headRMSNormForward(rows: seg.counts[b], heads: config.heads, headDim: config.headDim, x: sa.qkv.data + r * 3 * d,
                                            xStride: 3 * d, scale: s.queryNorm.data, y: a.q.data + j, yStride: d,
                                            rrms: sa.rrmsQ.data + r, rrmsStride: sa.capacity)
            BlockKernels.headRMSNormForward(rows: seg.counts[b], heads: config.heads, headDim: config.headDim, x: sa.qkv.data + r * 3 * d + d,
                                            xStride: 3 * d, scale: s.keyNorm.data, y: a.k.data + j, yStride: d,
                                            rrms: sa.rrmsK.data + r, rrmsStride: sa.capacity)
        }
        moveRows(sa, a, inSample: inSample, stream: sa.qkv.data + 2 * d, streamStride: 3 * d, joint: a.v.data, toJoint: true)
    }

    private func finish(_ s: Stream, _ sa: StreamActivations, _ x: UnsafeMutablePointer<Float>, inSample: (Int) -> Int, _ a: Activations) {
        let d = config.hiddenSize, seg = sa.segments, rows = seg.total, mod = sa.mod.data
        moveRows(sa, a, inSample: inSample, stream: sa.attended.data, streamStride: d, joint: a.o.data, toJoint: false)
        s.proj.forward(sa.attended.data, rows: rows, sa.p.data, cache: sa.projCache)
        BlockKernels.gatedResidualForward(seg, dim: d, mod: mod, modStride: 6 * d, gate: 2, f: sa.p.data, x: x)
        sa.xMid.data.update(from: x, count: rows * d)
        BlockKernels.adaLNForward(seg, dim: d, x: x, mod: mod, modStride: 6 * d, shift: 3, scale: 4,
                                  n: sa.n2.data, m: sa.m2.data, mean: sa.mean2.data, rstd: sa.rstd2.data)
        s.mlpIn.forward(sa.m2.data, rows: rows, sa.h.data, cache: nil)
        // h keeps gelu'(h) from here: backward needs only that (one product, no second tanh).
        ActivationKernels.geluForwardSavingSlope(rows * config.mlpHidden, h: sa.h.data, g: sa.g.data)
        s.mlpOut.forward(sa.g.data, rows: rows, sa.o.data, cache: nil)
        BlockKernels.gatedResidualForward(seg, dim: d, mod: mod, modStride: 6 * d, gate: 5, f: sa.o.data, x: x)
    }

    /// On entry dImg, dTxt hold the gradients at the block's outputs; on exit, at its inputs.
    /// dsv (samples, D) accumulates the gradient of silu(vec); parameter gradients accumulate.
    /// `progress` is called between the larger products (gradient sync tests its requests there).
    public func backward(dImg: UnsafeMutablePointer<Float>, dTxt: UnsafeMutablePointer<Float>, sv: UnsafePointer<Float>,
                         dsv: UnsafeMutablePointer<Float>?, rope: RotaryTable, _ a: Activations, progress: (() -> Void)? = nil) {
        let d = config.hiddenSize, total = a.joint.total
        let textRows = a.txt.segments.counts
        backwardToAttention(txt, a.txt, dTxt, inSample: { _ in 0 }, a)
        progress?()
        backwardToAttention(img, a.img, dImg, inSample: { textRows[$0] }, a)
        progress?()
        for b in 0..<a.joint.count {
            let o = a.joint.offsets[b] * d
            attention.backward(q: a.q.data + o, k: a.k.data + o, v: a.v.data + o, tokens: a.joint.counts[b], dO: a.dO.data + o,
                               dq: a.dq.data + o, dk: a.dk.data + o, dv: a.dv.data + o, a.attention[b])
        }
        progress?()
        rope.apply(a.dq.data, rows: total, heads: config.heads, stride: d, inverse: true)
        rope.apply(a.dk.data, rows: total, heads: config.heads, stride: d, inverse: true)
        backwardFromAttention(txt, a.txt, dTxt, inSample: { _ in 0 }, sv: sv, dsv: dsv, a)
        progress?()
        backwardFromAttention(img, a.img, dImg, inSample: { textRows[$0] }, sv: sv, dsv: dsv, a)
    }

    /// The MLP half and the attention output projection of one stream, down to the joint dO.
    private func backwardToAttention(_ s: Stream, _ sa: StreamActivations, _ dx: UnsafeMutablePointer<Float>, inSample: (Int) -> Int,
                                     _ a: Activations) {
        let d = config.hiddenSize, hidden = config.mlpHidden, seg = sa.segments, rows = seg.total
        let mod = sa.mod.data, dmod = sa.dmod.data
        ElementwiseKernels.fill(UnsafeMutableBufferPointer(start: dmod, count: seg.count * 6 * d), with: 0)
        // MLP half: x_out = x_mid + gate2 * mlp(adaLN2(x_mid)).
        BlockKernels.gatedResidualBackward(seg, dim: d, mod: mod, modStride: 6 * d, gate: 5, f: sa.o.data, dx: dx, dmod: dmod,
                                           df: sa.dA.data)
        s.mlpOut.backward(sa.g.data, rows: rows, dy: sa.dA.data, dx: sa.dG.data, overwrite: true, cache: nil)
        // dh = dG * gelu'(h) overwrites the slope the forward left in h.
        ActivationKernels.geluBackwardFromSlope(rows * hidden, slope: sa.h.data, dy: sa.dG.data, dx: sa.h.data)
        s.mlpIn.backward(sa.m2.data, rows: rows, dy: sa.h.data, dx: sa.dM.data, overwrite: true, cache: nil)
        BlockKernels.adaLNBackward(seg, dim: d, x: sa.xMid.data, n: sa.n2.data, mod: mod, modStride: 6 * d, shift: 3, scale: 4,
                                   dm: sa.dM.data, dmod: dmod, dn: sa.dN.data, mean: sa.mean2.data, rstd: sa.rstd2.data, dx: dx)
        // Attention half, up to the joint output: x_mid = x_in + gate1 * proj(o).
        BlockKernels.gatedResidualBackward(seg, dim: d, mod: mod, modStride: 6 * d, gate: 2, f: sa.p.data, dx: dx, dmod: dmod,
                                           df: sa.dA.data)
        s.proj.backward(sa.attended.data, rows: rows, dy: sa.dA.data, dx: sa.dAttended.data, overwrite: true, cache: sa.projCache)
        moveRows(sa, a, inSample: inSample, stream: sa.dAttended.data, streamStride: d, joint: a.dO.data, toJoint: true)
    }

    /// From the joint dQ, dK, dV back through Q/K norms, qkv and the first adaLN of one stream.
    private func backwardFromAttention(_ s: Stream, _ sa: StreamActivations, _ dx: UnsafeMutablePointer<Float>, inSample: (Int) -> Int,
                                       sv: UnsafePointer<Float>, dsv: UnsafeMutablePointer<Float>?, _ a: Activations) {
        let d = config.hiddenSize, seg = sa.segments, rows = seg.total, mod = sa.mod.data, dmod = sa.dmod.data
        ElementwiseKernels.fill(UnsafeMutableBufferPointer(start: sa.dQKV.data, count: rows * 3 * d), with: 0)
        for b in 0..<seg.count {
            let r = seg.offsets[b], j = (a.joint.offsets[b] + inSample(b)) * d
            BlockKernels.headRMSNormBackward(rows: seg.counts[b], heads: config.heads, headDim: config.headDim, x: sa.qkv.data + r * 3 * d,
                                             xStride: 3 * d, dy: a.dq.data + j, dyStride: d, rrms: sa.rrmsQ.data + r, rrmsStride: sa.capacity,
                                             scale: s.queryNorm.data, dx: sa.dQKV.data + r * 3 * d, dxStride: 3 * d,
                                             dscale: s.queryNorm.gradData)
            BlockKernels.headRMSNormBackward(rows: seg.counts[b], heads: config.heads, headDim: config.headDim, x: sa.qkv.data + r * 3 * d + d,
                                             xStride: 3 * d, dy: a.dk.data + j, dyStride: d, rrms: sa.rrmsK.data + r, rrmsStride: sa.capacity,
                                             scale: s.keyNorm.data, dx: sa.dQKV.data + r * 3 * d + d, dxStride: 3 * d,
                                             dscale: s.keyNorm.gradData)
        }
        moveRows(sa, a, inSample: inSample, stream: sa.dQKV.data + 2 * d, streamStride: 3 * d, joint: a.dv.data, toJoint: false)
        s.qkv.backward(sa.m1.data, rows: rows, dy: sa.dQKV.data, dx: sa.dM.data, overwrite: true, cache: sa.qkvCache)
        BlockKernels.adaLNBackward(seg, dim: d, x: sa.xIn.data, n: sa.n1.data, mod: mod, modStride: 6 * d, shift: 0, scale: 1,
                                   dm: sa.dM.data, dmod: dmod, dn: sa.dN.data, mean: sa.mean1.data, rstd: sa.rstd1.data, dx: dx)
        s.mod.backward(sv, rows: seg.count, dy: dmod, dx: dsv, cache: nil)
    }

    /// FLOPs of one forward with li image and lt text tokens.
    public func forwardFLOPs(imageRows li: Int, textRows lt: Int) -> FLOPCount {
        var f = attention.forwardFLOPs(tokens: li + lt)
        for (s, rows) in [(img, li), (txt, lt)] {
            f = f + s.mod.forwardFLOPs(rows: 1) + s.qkv.forwardFLOPs(rows: rows) + s.proj.forwardFLOPs(rows: rows)
            f = f + s.mlpIn.forwardFLOPs(rows: rows) + s.mlpOut.forwardFLOPs(rows: rows)
        }
        return f
    }
}
