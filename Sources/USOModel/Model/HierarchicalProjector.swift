import TensorCore

/// USO's hierarchical projector (`feature_embedder`): for each tapped level of the style
/// encoder (high, mid, low), a Linear over the TOKEN axis (N -> T) + SiLU, a LayerNorm over
/// the encoder width E, and a Linear E -> model width D. One style image gives
/// [high; mid; low] = 3T style tokens (192 at FLUX size); several images give theirs in order.
public final class HierarchicalProjector {
    public static let levels = ["high", "mid", "low"]

    /// One level's weights.
    final class Level {
        let tokenWeight: Parameter, tokenBias: Parameter   // (T, N), (T)
        let normWeight: Parameter, normBias: Parameter     // (E), (E)
        let projection: Linear                              // E -> D

        init(_ r: ParameterRegistry, level: String, tokens n: Int, outTokens t: Int, width e: Int, modelWidth d: Int) {
            let p = "feature_embedder.\(level)"
            let bound = 1 / Float(n).squareRoot()
            tokenWeight = r.make("\(p)_embedding_linear.0.weight", [t, n], group: .projector, initializer: .uniform(bound: bound))
            tokenBias = r.make("\(p)_embedding_linear.0.bias", [t], group: .projector, initializer: .uniform(bound: bound))
            normWeight = r.make("\(p)_layer_norm.weight", [e], group: .projector, initializer: .ones)
            normBias = r.make("\(p)_layer_norm.bias", [e], group: .projector, initializer: .zeros)
            projection = Linear(r, "\(p)_projection", in: e, out: d, group: .projector)
        }
    }

    public let encoderTokens: Int, outTokens: Int, encoderWidth: Int, modelWidth: Int
    let levels: [Level]

    public init(_ r: ParameterRegistry, encoderTokens n: Int, outTokens t: Int, encoderWidth e: Int, modelWidth d: Int) {
        encoderTokens = n; outTokens = t; encoderWidth = e; modelWidth = d
        levels = Self.levels.map { Level(r, level: $0, tokens: n, outTokens: t, width: e, modelWidth: d) }
    }

    /// Style tokens per style image.
    public var tokensPerImage: Int { 3 * outTokens }

    /// Saved values for up to `images` style images.
    public final class Activations {
        let features: Tensor            // (images, 3, N, E): copies of the inputs
        let u, s, n, mean, rstd: Tensor  // (images, 3, T, E) and (images, 3, T)
        let dN, dS, dU: Tensor           // (T, E) scratch
        let images: Int
        var count = 0
        init(_ p: HierarchicalProjector, images: Int) {
            self.images = images
            let t = p.outTokens, e = p.encoderWidth
            features = Tensor(zeros: [images, 3, p.encoderTokens, e])
            u = Tensor(zeros: [images, 3, t, e]); s = Tensor(zeros: [images, 3, t, e]); n = Tensor(zeros: [images, 3, t, e])
            mean = Tensor(zeros: [images, 3, t]); rstd = Tensor(zeros: [images, 3, t])
            dN = Tensor(zeros: [t, e]); dS = Tensor(zeros: [t, e]); dU = Tensor(zeros: [t, e])
        }
    }

    public func makeActivations(images: Int) -> Activations { Activations(self, images: images) }

    /// features: (count, 3, N, E), levels in order high, mid, low; out: (count * 3T, D).
    public func forward(features: UnsafePointer<Float>, images count: Int, out: UnsafeMutablePointer<Float>, _ a: Activations) {
        precondition(count <= a.images, "\(count) style images, activations for \(a.images)")
        a.count = count
        let n = encoderTokens, t = outTokens, e = encoderWidth, d = modelWidth
        a.features.data.update(from: features, count: count * 3 * n * e)
        for img in 0..<count {
            for (l, level) in levels.enumerated() {
                let slot = img * 3 + l
                let c = a.features.data + slot * n * e
                let u = a.u.data + slot * t * e, s = a.s.data + slot * t * e, nn = a.n.data + slot * t * e
                // u (T, E) = W (T, N) c (N, E) + b[:, None]
                Gemm.multiply(transA: false, transB: false, m: t, n: e, k: n, a: level.tokenWeight.data, lda: n,
                              b: c, ldb: e, beta: 0, c: u, ldc: e)
                for i in 0..<t {
                    let b = level.tokenBias.data[i]
                    for j in 0..<e { u[i * e + j] += b }
                }
                ActivationKernels.siluForward(t * e, u, s)
                NormKernels.layerNormForward(rows: t, dim: e, eps: 1e-5, x: s, weight: level.normWeight.data,
                                             bias: level.normBias.data, y: nn, mean: a.mean.data + slot * t,
                                             rstd: a.rstd.data + slot * t)
                level.projection.forward(nn, rows: t, out + slot * t * d, cache: nil)
            }
        }
    }

    /// Parameter gradients from dOut (count * 3T, D). The encoder is frozen: no input gradient.
    public func backward(dOut: UnsafePointer<Float>, _ a: Activations) {
        let n = encoderTokens, t = outTokens, e = encoderWidth, d = modelWidth
        for img in 0..<a.count {
            for (l, level) in levels.enumerated() {
                let slot = img * 3 + l
                let c = a.features.data + slot * n * e
                let u = a.u.data + slot * t * e, s = a.s.data + slot * t * e, nn = a.n.data + slot * t * e
                a.dN.fill(0); a.dS.fill(0); a.dU.fill(0)
                level.projection.backward(nn, rows: t, dy: dOut + slot * t * d, dx: a.dN.data, cache: nil)
                NormKernels.layerNormBackwardAccumulate(rows: t, dim: e, x: s, dy: a.dN.data, mean: a.mean.data + slot * t,
                                                        rstd: a.rstd.data + slot * t, weight: level.normWeight.data,
                                                        dx: a.dS.data, dweight: level.normWeight.gradData,
                                                        dbias: level.normBias.gradData)
                ActivationKernels.siluBackwardAccumulate(t * e, u, a.dS.data, a.dU.data)
                if let dw = level.tokenWeight.gradData {
                    // dW (T, N) += dU (T, E) c^T (E, N)
                    Gemm.multiply(transA: false, transB: true, m: t, n: n, k: e, a: a.dU.data, lda: e, b: c, ldb: e,
                                  beta: 1, c: dw, ldc: n)
                }
                if let db = level.tokenBias.gradData {
                    for i in 0..<t {
                        var sum: Float = 0
                        for j in 0..<e { sum += a.dU.data[i * e + j] }
                        db[i] += sum
                    }
                }
            }
        }
    }

    public func forwardFLOPs(images: Int) -> Double {
        Double(images * 3) * (Gemm.flops(m: outTokens, n: encoderWidth, k: encoderTokens)
            + Gemm.flops(m: outTokens, n: modelWidth, k: encoderWidth))
    }
}
