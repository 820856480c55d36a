import Foundation
import TensorCore

/// FLUX's `MLPEmbedder`: out_layer(silu(in_layer(x))), used for `time_in`, `vector_in`
/// and `guidance_in`. Works on one row (one sample's conditioning vector).
public final class MLPEmbedder {
    public let inLayer: Linear
    public let outLayer: Linear

    public init(_ registry: ParameterRegistry, _ name: String, in inDim: Int, hidden: Int, group: ParameterGroup) {
        inLayer = Linear(registry, "\(name).in_layer", in: inDim, out: hidden, group: group)
        outLayer = Linear(registry, "\(name).out_layer", in: hidden, out: hidden, group: group)
    }

    /// Saved values and scratch of one forward.
    public final class Activations {
        let x: Tensor                     // (in)
        let h: Tensor, a: Tensor          // (hidden): in_layer output, its SiLU
        let out: Tensor, da: Tensor, dh: Tensor  // (hidden) scratch
        init(inDim: Int, hidden: Int) {
            x = Tensor(zeros: [inDim])
            h = Tensor(zeros: [hidden]); a = Tensor(zeros: [hidden])
            out = Tensor(zeros: [hidden]); da = Tensor(zeros: [hidden]); dh = Tensor(zeros: [hidden])
        }
    }

    public func makeActivations() -> Activations { Activations(inDim: inLayer.inFeatures, hidden: inLayer.outFeatures) }

    /// y (hidden) += out_layer(silu(in_layer(x))): accumulates, so embeddings sum into vec.
    public func forwardAccumulate(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ act: Activations) {
        act.x.data.update(from: x, count: inLayer.inFeatures)
        inLayer.forward(x, rows: 1, act.h.data, cache: nil)
        ActivationKernels.siluForward(act.h.count, act.h.data, act.a.data)
        outLayer.forward(act.a.data, rows: 1, act.out.data, cache: nil)
        ElementwiseKernels.axpy(outLayer.outFeatures, 1, act.out.data, y)
    }

    /// Parameter gradients from dy (hidden); the input gets none (it is t or a frozen encoding).
    public func backward(dy: UnsafePointer<Float>, _ act: Activations) {
        guard outLayer.weight.grad != nil || inLayer.weight.grad != nil else { return }
        act.da.fill(0)
        act.dh.fill(0)
        outLayer.backward(act.a.data, rows: 1, dy: dy, dx: act.da.data, cache: nil)
        ActivationKernels.siluBackwardAccumulate(act.h.count, act.h.data, act.da.data, act.dh.data)
        inLayer.backward(act.x.data, rows: 1, dy: act.dh.data, dx: nil, cache: nil)
    }
}

/// FLUX's sinusoidal timestep embedding: t is scaled by 1000, half = dim / 2,
/// freqs_k = exp(-ln(10000) k / half), embedding = [cos(t freqs), sin(t freqs)].
public enum TimestepEmbedding {
    public static func embed(_ t: Float, dim: Int, timeFactor: Double = 1000, maxPeriod: Double = 10000,
                             into out: UnsafeMutablePointer<Float>) {
        let half = dim / 2
        let tt = Double(t) * timeFactor
        for k in 0..<half {
            let freq = exp(-log(maxPeriod) * Double(k) / Double(half))
            out[k] = Float(cos(tt * freq))
            out[half + k] = Float(sin(tt * freq))
        }
        if dim % 2 == 1 { out[dim - 1] = 0 }
    }
}
