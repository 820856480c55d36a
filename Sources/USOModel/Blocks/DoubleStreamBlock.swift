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

    /// One stream's saved values for `capacity` rows.
    final class StreamActivations {
        let xIn, n1, m1, qkv, p, xMid, n2, m2, o: Tensor   // (cap, D) except qkv (cap, 3D)
        let h, g: Tensor                                  // (cap, 4D)
        let mod, dmod: Tensor                             // (6D)
        let mean1, rstd1, mean2, rstd2: Tensor            // (cap)
        let rrmsQ, rrmsK: Tensor                          // (heads, cap)
        let qkvCache, projCache: Tensor?
        // Backward scratch.
        let dA, dM, dN, dQKV: Tensor                      // (cap, D) x3, (cap, 3D)
        let dG: Tensor                                    // (cap, 4D)
        var rows = 0

        init(_ s: Stream, capacity cap: Int, config c: DiTConfig) {
            let d = c.hiddenSize
            func t(_ shape: [Int]) -> Tensor { Tensor(zeros: shape) }
            xIn = t([cap, d]); n1 = t([cap, d]); m1 = t([cap, d]); qkv = t([cap, 3 * d]); p = t([cap, d])
            xMid = t([cap, d]); n2 = t([cap, d]); m2 = t([cap, d]); o = t([cap, d])
            h = t([cap, c.mlpHidden]); g = t([cap, c.mlpHidden])
            mod = t([6 * d]); dmod = t([6 * d])
            mean1 = t([cap]); rstd1 = t([cap]); mean2 = t([cap]); rstd2 = t([cap])
            rrmsQ = t([c.heads, cap]); rrmsK = t([c.heads, cap])
            qkvCache = s.qkv.makeCache(rows: cap); projCache = s.proj.makeCache(rows: cap)
            dA = t([cap, d]); dM = t([cap, d]); dN = t([cap, d]); dQKV = t([cap, 3 * d]); dG = t([cap, c.mlpHidden])
        }
    }

    /// Saved values of one forward of the block.
    public final class Activations {
        let img: StreamActivations, txt: StreamActivations
        let q, k, v, o: Tensor            // joint (txtCap + imgCap, D)
        let dq, dk, dv, dO: Tensor
        let attention: AttentionCore.Activations

        init(_ b: DoubleStreamBlock, imageCapacity: Int, textCapacity: Int) {
            img = StreamActivations(b.img, capacity: imageCapacity, config: b.config)
            txt = StreamActivations(b.txt, capacity: textCapacity, config: b.config)
            let joint = imageCapacity + textCapacity, d = b.config.hiddenSize
            q = Tensor(zeros: [joint, d]); k = Tensor(zeros: [joint, d]); v = Tensor(zeros: [joint, d]); o = Tensor(zeros: [joint, d])
            dq = Tensor(zeros: [joint, d]); dk = Tensor(zeros: [joint, d]); dv = Tensor(zeros: [joint, d]); dO = Tensor(zeros: [joint, d])
            attention = b.attention.makeActivations(capacity: joint)
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

    public func makeActivations(imageCapacity: Int, textCapacity: Int) -> Activations {
        Activations(self, imageCapacity: imageCapacity, textCapacity: textCapacity)
    }

    /// Updates img (Li, D) and txt (Lt, D) in place. `sv` is silu(vec) (D); `rope` holds the
    /// joint positions [text; image].
    public func forward(img x: UnsafeMutablePointer<Float>, imageRows li: Int, txt y: UnsafeMutablePointer<Float>, textRows lt: Int,
                        sv: UnsafePointer<Float>, rope: RotaryTable, _ a: Activations) {
        // Per stream: modulation, modulated norm, qkv, Q/K RMSNorm into the joint buffers [txt; img].
        prepare(txt, a.txt, y, rows: lt, offset: 0, sv: sv, a)
        prepare(img, a.img, x, rows: li, offset: lt, sv: sv, a)
        let d = config.hiddenSize, total = lt + li
        rope.apply(a.q.data, rows: total, heads: config.heads, stride: d)
        rope.apply(a.k.data, rows: total, heads: config.heads, stride: d)
        attention.forward(q: a.q.data, k: a.k.data, v: a.v.data, tokens: total, o: a.o.data, a.attention)
        finish(txt, a.txt, y, offset: 0, a)
        finish(img, a.img, x, offset: lt, a)
    }

    private func prepare(_ s: Stream, _ sa: StreamActivations, _ x: UnsafeMutablePointer<Float>, rows: Int, offset: Int,
                         sv: UnsafePointer<Float>, _ a: Activations) {
        let d = config.hiddenSize
        sa.rows = rows
        s.mod.forward(sv, rows: 1, sa.mod.data, cache: nil)
        sa.xIn.data.update(from: x, count: rows * d)
        BlockKernels.adaLNForward(rows: rows, dim: d, x: x, shift: sa.mod.data, scale: sa.mod.data + d,
                                  n: sa.n1.data, m: sa.m1.data, mean: sa.mean1.data, rstd: sa.rstd1.data)
        s.qkv.forward(sa.m1.data, rows: rows, sa.qkv.data, cache: sa.qkvCache)
        BlockKernels.headRMSNormForward(rows: rows, heads: config.heads, headDim: config.headDim, x: sa.qkv.data,
                                        xStride: 3 * d, scale: s.queryNorm.data, y: a.q.data + offset * d, yStride: d,
                                        rrms: sa.rrmsQ.data)
        BlockKernels.headRMSNormForward(rows: rows, heads: config.heads, headDim: config.headDim, x: sa.qkv.data + d,
                                        xStride: 3 * d, scale: s.keyNorm.data, y: a.k.data + offset * d, yStride: d,
                                        rrms: sa.rrmsK.data)
        ElementwiseKernels.copyRows(rows: rows, cols: d, from: sa.qkv.data + 2 * d, stride: 3 * d,
                                    to: a.v.data + offset * d, stride: d)
    }

    private func finish(_ s: Stream, _ sa: StreamActivations, _ x: UnsafeMutablePointer<Float>, offset: Int, _ a: Activations) {
        let d = config.hiddenSize, rows = sa.rows, mod = sa.mod.data
        s.proj.forward(a.o.data + offset * d, rows: rows, sa.p.data, cache: sa.projCache)
        BlockKernels.gatedResidualForward(rows: rows, dim: d, gate: mod + 2 * d, f: sa.p.data, x: x)
        sa.xMid.data.update(from: x, count: rows * d)
        BlockKernels.adaLNForward(rows: rows, dim: d, x: x, shift: mod + 3 * d, scale: mod + 4 * d,
                                  n: sa.n2.data, m: sa.m2.data, mean: sa.mean2.data, rstd: sa.rstd2.data)
        s.mlpIn.forward(sa.m2.data, rows: rows, sa.h.data, cache: nil)
        ActivationKernels.geluForward(rows * config.mlpHidden, sa.h.data, sa.g.data)
        s.mlpOut.forward(sa.g.data, rows: rows, sa.o.data, cache: nil)
        BlockKernels.gatedResidualForward(rows: rows, dim: d, gate: mod + 5 * d, f: sa.o.data, x: x)
    }

    /// On entry dImg, dTxt hold the gradients at the block's outputs; on exit, at its inputs.
    /// dsv (D) accumulates the gradient of silu(vec); parameter gradients accumulate.
    /// `progress` is called between the larger products (gradient sync tests its requests there).
    public func backward(dImg: UnsafeMutablePointer<Float>, dTxt: UnsafeMutablePointer<Float>, sv: UnsafePointer<Float>,
                         dsv: UnsafeMutablePointer<Float>?, rope: RotaryTable, _ a: Activations, progress: (() -> Void)? = nil) {
        let d = config.hiddenSize
        let lt = a.txt.rows, total = lt + a.img.rows
        backwardToAttention(txt, a.txt, dTxt, offset: 0, a)
        progress?()
        backwardToAttention(img, a.img, dImg, offset: lt, a)
        progress?()
        attention.backward(q: a.q.data, k: a.k.data, v: a.v.data, tokens: total, dO: a.dO.data,
                           dq: a.dq.data, dk: a.dk.data, dv: a.dv.data, a.attention)
        progress?()
        rope.apply(a.dq.data, rows: total, heads: config.heads, stride: d, inverse: true)
        rope.apply(a.dk.data, rows: total, heads: config.heads, stride: d, inverse: true)
        backwardFromAttention(txt, a.txt, dTxt, offset: 0, sv: sv, dsv: dsv, a)
        progress?()
        backwardFromAttention(img, a.img, dImg, offset: lt, sv: sv, dsv: dsv, a)
    }

    /// The MLP half and the attention output projection of one stream, down to the joint dO.
    private func backwardToAttention(_ s: Stream, _ sa: StreamActivations, _ dx: UnsafeMutablePointer<Float>, offset: Int,
                                     _ a: Activations) {
        let d = config.hiddenSize, hidden = config.mlpHidden, rows = sa.rows, mod = sa.mod.data, dmod = sa.dmod.data
        sa.dmod.fill(0)
        // MLP half: x_out = x_mid + gate2 * mlp(adaLN2(x_mid)).
        BlockKernels.gatedResidualBackward(rows: rows, dim: d, gate: mod + 5 * d, f: sa.o.data, dx: dx,
                                           dgate: dmod + 5 * d, df: sa.dA.data)
        s.mlpOut.backward(sa.g.data, rows: rows, dy: sa.dA.data, dx: sa.dG.data, overwrite: true, cache: nil)
        // dh overwrites h, which backward no longer needs after gelu'.
        ActivationKernels.geluBackwardInPlace(rows * hidden, h: sa.h.data, dy: sa.dG.data)
        s.mlpIn.backward(sa.m2.data, rows: rows, dy: sa.h.data, dx: sa.dM.data, overwrite: true, cache: nil)
        BlockKernels.adaLNBackward(rows: rows, dim: d, x: sa.xMid.data, n: sa.n2.data, scale: mod + 4 * d, dm: sa.dM.data,
                                   dshift: dmod + 3 * d, dscale: dmod + 4 * d, dn: sa.dN.data,
                                   mean: sa.mean2.data, rstd: sa.rstd2.data, dx: dx)
        // Attention half, up to the joint output: x_mid = x_in + gate1 * proj(o).
        BlockKernels.gatedResidualBackward(rows: rows, dim: d, gate: mod + 2 * d, f: sa.p.data, dx: dx,
                                           dgate: dmod + 2 * d, df: sa.dA.data)
        s.proj.backward(a.o.data + offset * d, rows: rows, dy: sa.dA.data, dx: a.dO.data + offset * d, overwrite: true, cache: sa.projCache)
    }

    /// From the joint dQ, dK, dV back through Q/K norms, qkv and the first adaLN of one stream.
    private func backwardFromAttention(_ s: Stream, _ sa: StreamActivations, _ dx: UnsafeMutablePointer<Float>, offset: Int,
                                       sv: UnsafePointer<Float>, dsv: UnsafeMutablePointer<Float>?, _ a: Activations) {
        let d = config.hiddenSize, rows = sa.rows, mod = sa.mod.data, dmod = sa.dmod.data
        ElementwiseKernels.fill(UnsafeMutableBufferPointer(start: sa.dQKV.data, count: rows * 3 * d), with: 0)
        BlockKernels.headRMSNormBackward(rows: rows, heads: config.heads, headDim: config.headDim, x: sa.qkv.data,
                                         xStride: 3 * d, dy: a.dq.data + offset * d, dyStride: d, rrms: sa.rrmsQ.data,
                                         scale: s.queryNorm.data, dx: sa.dQKV.data, dxStride: 3 * d,
                                         dscale: s.queryNorm.gradData)
        BlockKernels.headRMSNormBackward(rows: rows, heads: config.heads, headDim: config.headDim, x: sa.qkv.data + d,
                                         xStride: 3 * d, dy: a.dk.data + offset * d, dyStride: d, rrms: sa.rrmsK.data,
                                         scale: s.keyNorm.data, dx: sa.dQKV.data + d, dxStride: 3 * d,
                                         dscale: s.keyNorm.gradData)
        ElementwiseKernels.copyRows(rows: rows, cols: d, from: a.dv.data + offset * d, stride: d,
                                    to: sa.dQKV.data + 2 * d, stride: 3 * d)
        s.qkv.backward(sa.m1.data, rows: rows, dy: sa.dQKV.data, dx: sa.dM.data, overwrite: true, cache: sa.qkvCache)
        BlockKernels.adaLNBackward(rows: rows, dim: d, x: sa.xIn.data, n: sa.n1.data, scale: mod + d, dm: sa.dM.data,
                                   dshift: dmod, dscale: dmod + d, dn: sa.dN.data,
                                   mean: sa.mean1.data, rstd: sa.rstd1.data, dx: dx)
        s.mod.backward(sv, rows: 1, dy: dmod, dx: dsv, cache: nil)
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
