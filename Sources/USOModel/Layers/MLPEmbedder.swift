import Foundation
import TensorCore

/// FLUX's `MLPEmbedder`: out_layer(silu(in_layer(x))), used for `time_in`, `vector_in`
/// and `guidance_in`, over one row per sample (each sample's conditioning vector).
public final class MLPEmbedder {
    public let inLayer: Linear
    public let outLayer: Linear

    public init(_ registry: ParameterRegistry, _ name: String, in inDim: Int, hidden: Int, group: ParameterGroup) {
        inLayer = Linear(registry, "\(name).in_layer", in: inDim, out: hidden, group: group)
        outLayer = Linear(registry, "\(name).out_layer", in: hidden, out: hidden, group: group)
    }

    /// Saved values and scratch of one forward of up to `rows` samples.
    public final class Activations {
        let x: Tensor                     // (rows, in)
        let h: Tensor, a: Tensor          // (rows, hidden): in_layer output, its SiLU
        let out: Tensor, da: Tensor, dh: Tensor  // (rows, hidden) scratch
        var rows = 0
        init(inDim: Int, hidden: Int, rows r: Int) {
            x = Tensor(zeros: [r, inDim])
            h = Tensor(zeros: [r, hidden]); a = Tensor(zeros: [r, hidden])
            out = Tensor(zeros: [r, hidden]); da = Tensor(zeros: [r, hidden]); dh = Tensor(zeros: [r, hidden])
        }
    }

    public func makeActivations(rows: Int = 1) -> Activations {
        Activations(inDim: inLayer.inFeatures, hidden: inLayer.outFeatures, rows: rows)
    }

    /// y (rows, hidden) += out_layer(silu(in_layer(x (rows, in)))): accumulates, so embeddings sum into vec.
    public func forwardAccumulate(_ x: UnsafePointer<Float>, rows: Int = 1, into y: UnsafeMutablePointer<Float>, _ act: Activations) {
        precondition(rows <= act.x.shape[0], "\(rows) rows, activations for \(act.x.shape[0])")
        act.rows = rows
        let hidden = outLayer.outFeatures
        act.x.data.update(from: x, count: rows * inLayer.inFeatures)
        inLayer.forward(x, rows: rows, act.h.data, cache: nil)
        ActivationKernels.siluForward(rows * hidden, act.h.data, act.a.data)
        outLayer.forward(act.a.data, rows: rows, act.out.data, cache: nil)
        ElementwiseKernels.axpy(rows * hidden, 1, act.out.data, y)
    }

    /// Parameter gradients from dy (rows, hidden); the input gets none (it is t or a frozen encoding).
    public func backward(dy: UnsafePointer<Float>, _ act: Activations) {
        guard outLayer.weight.grad != nil || inLayer.weight.grad != nil else { return }
        let n = act.rows * outLayer.outFeatures
        ElementwiseKernels.fill(UnsafeMutableBufferPointer(start: act.dh.data, count: n), with: 0)
        outLayer.backward(act.a.data, rows: act.rows, dy: dy, dx: act.da.data, overwrite: true, cache: nil)
        ActivationKernels.siluBackwardAccumulate(n, act.h.data, act.da.data, act.dh.data)
        inLayer.backward(act.x.data, rows: act.rows, dy: act.dh.data, dx: nil, cache: nil)
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
