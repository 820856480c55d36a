import TensorCore

/// The dimensions of a vision transformer (SigLIP's layout: patch embedding, learned
/// positions, pre-LayerNorm blocks with tanh-GELU MLPs, a final LayerNorm).
public struct ViTConfig: Sendable, Codable, Equatable {
    public var imageSize: Int
    public var patchSize: Int
    public var width: Int
    public var depth: Int
    public var heads: Int
    public var mlpRatio: Int
    /// 0-based indices of the layers whose outputs are tapped, high first (USO: the
    /// 2nd-last, 11th-last and 20th-last of SigLIP's 27 layers: 25, 16, 7).
    public var taps: [Int]

    public init(imageSize: Int, patchSize: Int, width: Int, depth: Int, heads: Int, mlpRatio: Int = 4, taps: [Int]) {
        self.imageSize = imageSize; self.patchSize = patchSize; self.width = width; self.depth = depth
        self.heads = heads; self.mlpRatio = mlpRatio; self.taps = taps
    }

    public var gridSize: Int { imageSize / patchSize }
    public var tokens: Int { gridSize * gridSize }
    public var patchValues: Int { 3 * patchSize * patchSize }
}

/// A vision transformer over one RGB image (3, H, W) with values in [-1, 1]: hidden states
/// of every layer (for the style taps) and a pooled feature (mean over tokens after the
/// final LayerNorm, for CSD), with backward from the pooled feature to the weights and the image.
public final class VisionTransformer {
    public let config: ViTConfig
    let patchWeight: Parameter, patchBias: Parameter   // (E, 3, p, p), (E)
    let positions: Parameter                            // (N, E)
    let layers: [Layer]
    let postNormWeight: Parameter, postNormBias: Parameter

    final class Layer {
        let norm1w, norm1b, norm2w, norm2b: Parameter
        let q, k, v, out, fc1, fc2: Linear
        init(_ r: ParameterRegistry, _ name: String, _ c: ViTConfig, _ g: ParameterGroup) {
            let e = c.width
            norm1w = r.make("\(name).layer_norm1.weight", [e], group: g, initializer: .ones)
            norm1b = r.make("\(name).layer_norm1.bias", [e], group: g, initializer: .zeros)
            q = Linear(r, "\(name).self_attn.q_proj", in: e, out: e, group: g)
            k = Linear(r, "\(name).self_attn.k_proj", in: e, out: e, group: g)
            v = Linear(r, "\(name).self_attn.v_proj", in: e, out: e, group: g)
            out = Linear(r, "\(name).self_attn.out_proj", in: e, out: e, group: g)
            norm2w = r.make("\(name).layer_norm2.weight", [e], group: g, initializer: .ones)
            norm2b = r.make("\(name).layer_norm2.bias", [e], group: g, initializer: .zeros)
            fc1 = Linear(r, "\(name).mlp.fc1", in: e, out: e * c.mlpRatio, group: g)
            fc2 = Linear(r, "\(name).mlp.fc2", in: e * c.mlpRatio, out: e, group: g)
        }
    }

    /// `prefix` names the weights (e.g. "style_encoder", "csd.backbone").
    public init(_ r: ParameterRegistry, prefix: String, config c: ViTConfig, group: ParameterGroup) {
        config = c
        let e = c.width, p = c.patchSize
        let bound = 1 / Float(c.patchValues).squareRoot()
        patchWeight = r.make("\(prefix).embeddings.patch_embedding.weight", [e, 3, p, p], group: group, initializer: .uniform(bound: bound))
        patchBias = r.make("\(prefix).embeddings.patch_embedding.bias", [e], group: group, initializer: .uniform(bound: bound))
        positions = r.make("\(prefix).embeddings.position_embedding.weight", [c.tokens, e], group: group, initializer: .normal(std: 0.02))
        layers = (0..<c.depth).map { Layer(r, "\(prefix).encoder.layers.\($0)", c, group) }
        postNormWeight = r.make("\(prefix).post_layernorm.weight", [e], group: group, initializer: .ones)
        postNormBias = r.make("\(prefix).post_layernorm.bias", [e], group: group, initializer: .zeros)
    }

    /// Saved values of one forward.
    public final class Activations {
        let patches: Tensor                        // (N, 3p^2)
        /// Hidden states: index 0 the embeddings, index i + 1 the output of layer i. (depth + 1, N, E)
        public let hidden: Tensor
        let n1, n2, q, k, v, o, f, mid: [Tensor]   // per layer (N, E); mid: x after attention
        let h, g: [Tensor]                         // per layer (N, 4E)
        let mean1, rstd1, mean2, rstd2: [Tensor]   // per layer (N)
        let attention: [AttentionCore.Activations]
        let post: Tensor, postMean: Tensor, postRstd: Tensor
        /// Mean over tokens of the final LayerNorm's output (E).
        public let pooled: Tensor
        // Backward scratch.
        let dx, dn, da, dq, dk, dv: Tensor         // (N, E)
        let dh: Tensor                             // (N, 4E)
        let dPatches: Tensor

        init(_ m: VisionTransformer) {
            let c = m.config, n = c.tokens, e = c.width, wide = e * c.mlpRatio
            func t(_ s: [Int]) -> Tensor { Tensor(zeros: s) }
            func each(_ s: [Int]) -> [Tensor] { (0..<c.depth).map { _ in t(s) } }
            patches = t([n, c.patchValues]); hidden = t([c.depth + 1, n, e])
            n1 = each([n, e]); n2 = each([n, e]); q = each([n, e]); k = each([n, e]); v = each([n, e])
            o = each([n, e]); f = each([n, e]); mid = each([n, e]); h = each([n, wide]); g = each([n, wide])
            mean1 = each([n]); rstd1 = each([n]); mean2 = each([n]); rstd2 = each([n])
            attention = (0..<c.depth).map { _ in AttentionCore(heads: c.heads, headDim: e / c.heads).makeActivations(capacity: n) }
            post = t([n, e]); postMean = t([n]); postRstd = t([n]); pooled = t([e])
            dx = t([n, e]); dn = t([n, e]); da = t([n, e]); dq = t([n, e]); dk = t([n, e]); dv = t([n, e])
            dh = t([n, wide]); dPatches = t([n, c.patchValues])
        }

        /// The output of 0-based layer `layer` (N, E).
        public func layerOutput(_ layer: Int) -> UnsafeMutablePointer<Float> {
            hidden.data + (layer + 1) * hidden.shape[1] * hidden.shape[2]
        }
    }

    public func makeActivations() -> Activations { Activations(self) }

    var attention: AttentionCore { AttentionCore(heads: config.heads, headDim: config.width / config.heads) }

    /// Runs the encoder on image (3, S, S).
    public func forward(image: UnsafePointer<Float>, _ a: Activations) {
        let c = config, n = c.tokens, e = c.width, p = c.patchSize, s = c.imageSize, wide = e * c.mlpRatio
        // Patches in (channel, row, col) order, matching the conv weight (E, 3, p, p).
        Patches.extract(image, size: s, patch: p, into: a.patches.data)
        let x0 = a.hidden.data
        Gemm.multiply(transA: false, transB: true, m: n, n: e, k: c.patchValues, a: a.patches.data, lda: c.patchValues,
                      b: patchWeight.data, ldb: c.patchValues, beta: 0, c: x0, ldc: e)
        ElementwiseKernels.addBias(rows: n, cols: e, bias: patchBias.data, to: x0)
        ElementwiseKernels.axpy(n * e, 1, positions.data, x0)
        for (i, layer) in layers.enumerated() {
            let xIn = a.hidden.data + i * n * e, x = a.hidden.data + (i + 1) * n * e
            x.update(from: xIn, count: n * e)
            NormKernels.layerNormForward(rows: n, dim: e, eps: 1e-6, x: x, weight: layer.norm1w.data, bias: layer.norm1b.data,
                                         y: a.n1[i].data, mean: a.mean1[i].data, rstd: a.rstd1[i].data)
            layer.q.forward(a.n1[i].data, rows: n, a.q[i].data, cache: nil)
            layer.k.forward(a.n1[i].data, rows: n, a.k[i].data, cache: nil)
            layer.v.forward(a.n1[i].data, rows: n, a.v[i].data, cache: nil)
            attention.forward(q: a.q[i].data, k: a.k[i].data, v: a.v[i].data, tokens: n, o: a.o[i].data, a.attention[i])
            layer.out.forward(a.o[i].data, rows: n, a.f[i].data, cache: nil)
            ElementwiseKernels.axpy(n * e, 1, a.f[i].data, x)
            a.mid[i].data.update(from: x, count: n * e)
            NormKernels.layerNormForward(rows: n, dim: e, eps: 1e-6, x: x, weight: layer.norm2w.data, bias: layer.norm2b.data,
                                         y: a.n2[i].data, mean: a.mean2[i].data, rstd: a.rstd2[i].data)
            layer.fc1.forward(a.n2[i].data, rows: n, a.h[i].data, cache: nil)
            ActivationKernels.geluForward(n * wide, a.h[i].data, a.g[i].data)
            layer.fc2.forward(a.g[i].data, rows: n, a.f[i].data, cache: nil)
            ElementwiseKernels.axpy(n * e, 1, a.f[i].data, x)
        }
        let last = a.hidden.data + c.depth * n * e
        NormKernels.layerNormForward(rows: n, dim: e, eps: 1e-6, x: last, weight: postNormWeight.data, bias: postNormBias.data,
                                     y: a.post.data, mean: a.postMean.data, rstd: a.postRstd.data)
        a.pooled.fill(0)
        for r in 0..<n { ElementwiseKernels.axpy(e, 1 / Float(n), a.post.data + r * e, a.pooled.data) }
    }

    /// Backward from dPooled (E): parameter gradients accumulate (where allocated) and, when
    /// `dImage` is given, the image gradient (3, S, S) accumulates into it.
    public func backward(dPooled: UnsafePointer<Float>, dImage: UnsafeMutablePointer<Float>?, _ a: Activations) {
        let c = config, n = c.tokens, e = c.width, wide = e * c.mlpRatio
        // d post = dPooled / N on every row; then the final LayerNorm.
        for r in 0..<n { ElementwiseKernels.scale(e, dPooled, by: 1 / Float(n), into: a.dn.data + r * e) }
        a.dx.fill(0)
        NormKernels.layerNormBackwardAccumulate(rows: n, dim: e, x: a.hidden.data + c.depth * n * e, dy: a.dn.data,
                                                mean: a.postMean.data, rstd: a.postRstd.data, weight: postNormWeight.data,
                                                dx: a.dx.data, dweight: postNormWeight.gradData, dbias: postNormBias.gradData)
        for i in stride(from: layers.count - 1, through: 0, by: -1) {
            let layer = layers[i]
            // x_mid = x_in + attention; x_out = x_mid + fc2(gelu(fc1(LN2(x_mid)))).
            let xIn = a.hidden.data + i * n * e, xMid = a.mid[i].data
            a.dh.fill(0)
            layer.fc2.backward(a.g[i].data, rows: n, dy: a.dx.data, dx: a.dh.data, cache: nil)
            // dh over h: h is not needed again.
            ActivationKernels.geluBackwardInPlace(n * wide, h: a.h[i].data, dy: a.dh.data)
            a.dn.fill(0)
            layer.fc1.backward(a.n2[i].data, rows: n, dy: a.h[i].data, dx: a.dn.data, cache: nil)
            NormKernels.layerNormBackwardAccumulate(rows: n, dim: e, x: xMid, dy: a.dn.data, mean: a.mean2[i].data,
                                                    rstd: a.rstd2[i].data, weight: layer.norm2w.data, dx: a.dx.data,
                                                    dweight: layer.norm2w.gradData, dbias: layer.norm2b.gradData)
            a.da.fill(0)
            layer.out.backward(a.o[i].data, rows: n, dy: a.dx.data, dx: a.da.data, cache: nil)
            attention.backward(q: a.q[i].data, k: a.k[i].data, v: a.v[i].data, tokens: n, dO: a.da.data,
                               dq: a.dq.data, dk: a.dk.data, dv: a.dv.data, a.attention[i])
            a.dn.fill(0)
            layer.q.backward(a.n1[i].data, rows: n, dy: a.dq.data, dx: a.dn.data, cache: nil)
            layer.k.backward(a.n1[i].data, rows: n, dy: a.dk.data, dx: a.dn.data, cache: nil)
            layer.v.backward(a.n1[i].data, rows: n, dy: a.dv.data, dx: a.dn.data, cache: nil)
            NormKernels.layerNormBackwardAccumulate(rows: n, dim: e, x: xIn, dy: a.dn.data, mean: a.mean1[i].data,
                                                    rstd: a.rstd1[i].data, weight: layer.norm1w.data, dx: a.dx.data,
                                                    dweight: layer.norm1w.gradData, dbias: layer.norm1b.gradData)
        }
        // Embeddings: x0 = patches W^T + b + positions.
        if let dpos = positions.gradData { ElementwiseKernels.axpy(n * e, 1, a.dx.data, dpos) }
        if let db = patchBias.gradData { ElementwiseKernels.sumRowsAccumulate(rows: n, cols: e, a.dx.data, into: db) }
        if let dw = patchWeight.gradData {
            Gemm.multiply(transA: true, transB: false, m: e, n: c.patchValues, k: n, a: a.dx.data, lda: e,
                          b: a.patches.data, ldb: c.patchValues, beta: 1, c: dw, ldc: c.patchValues)
        }
        guard let dImage else { return }
        Gemm.multiply(transA: false, transB: false, m: n, n: c.patchValues, k: e, a: a.dx.data, lda: e,
                      b: patchWeight.data, ldb: c.patchValues, beta: 0, c: a.dPatches.data, ldc: c.patchValues)
        Patches.scatter(a.dPatches.data, size: c.imageSize, patch: c.patchSize, into: dImage, accumulate: true)
    }

    public func forwardFLOPs() -> Double {
        let c = config, n = c.tokens, e = c.width
        let perLayer = 4 * Gemm.flops(m: n, n: e, k: e) + 2 * Gemm.flops(m: n, n: e * c.mlpRatio, k: e)
            + attention.forwardFLOPs(tokens: n).total
        return Gemm.flops(m: n, n: e, k: c.patchValues) + Double(c.depth) * perLayer
    }
}
