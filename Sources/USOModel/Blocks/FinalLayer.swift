import TensorCore

/// FLUX's `LastLayer`: adaLN (shift, scale from `adaLN_modulation.1` on silu(vec)) over a
/// non-affine LayerNorm, then `linear` to the packed latent values of each token.
public final class FinalLayer {
    let modulation: Linear   // final_layer.adaLN_modulation.1: D -> 2D (shift, scale)
    let linear: Linear       // final_layer.linear: D -> inChannels
    public let hiddenSize: Int
    public let outChannels: Int

    public init(_ r: ParameterRegistry, config c: DiTConfig, zeroInit: Bool) {
        hiddenSize = c.hiddenSize
        outChannels = c.inChannels
        modulation = Linear(r, "final_layer.adaLN_modulation.1", in: c.hiddenSize, out: 2 * c.hiddenSize, group: .base)
        linear = Linear(r, "final_layer.linear", in: c.hiddenSize, out: c.inChannels, group: .base, zeroInit: zeroInit)
    }

    public final class Activations {
        let xIn, n, m: Tensor, mod, dmod: Tensor, mean, rstd: Tensor, dM, dN: Tensor
        var rows = 0
        init(capacity cap: Int, dim d: Int) {
            xIn = Tensor(zeros: [cap, d]); n = Tensor(zeros: [cap, d]); m = Tensor(zeros: [cap, d])
            mod = Tensor(zeros: [2 * d]); dmod = Tensor(zeros: [2 * d]); mean = Tensor(zeros: [cap]); rstd = Tensor(zeros: [cap])
            dM = Tensor(zeros: [cap, d]); dN = Tensor(zeros: [cap, d])
        }
    }

    public func makeActivations(capacity: Int) -> Activations { Activations(capacity: capacity, dim: hiddenSize) }

    /// out (L, outChannels) from x (L, D).
    public func forward(_ x: UnsafePointer<Float>, rows L: Int, sv: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                        _ a: Activations) {
        let d = hiddenSize
        a.rows = L
        modulation.forward(sv, rows: 1, a.mod.data, cache: nil)
        a.xIn.data.update(from: x, count: L * d)
        BlockKernels.adaLNForward(rows: L, dim: d, x: x, shift: a.mod.data, scale: a.mod.data + d, n: a.n.data, m: a.m.data,
                                  mean: a.mean.data, rstd: a.rstd.data)
        linear.forward(a.m.data, rows: L, out, cache: nil)
    }

    /// dx (L, D) accumulates the gradient at the input from dOut (L, outChannels).
    public func backward(dOut: UnsafePointer<Float>, sv: UnsafePointer<Float>, dsv: UnsafeMutablePointer<Float>?,
                         dx: UnsafeMutablePointer<Float>, _ a: Activations) {
        let d = hiddenSize, L = a.rows
        a.dmod.fill(0)
        ElementwiseKernels.fill(UnsafeMutableBufferPointer(start: a.dM.data, count: L * d), with: 0)
        linear.backward(a.m.data, rows: L, dy: dOut, dx: a.dM.data, cache: nil)
        BlockKernels.adaLNBackward(rows: L, dim: d, x: a.xIn.data, n: a.n.data, scale: a.mod.data + d, dm: a.dM.data,
                                   dshift: a.dmod.data, dscale: a.dmod.data + d, dn: a.dN.data, mean: a.mean.data,
                                   rstd: a.rstd.data, dx: dx)
        modulation.backward(sv, rows: 1, dy: a.dmod.data, dx: dsv, cache: nil)
    }

    public func forwardFLOPs(rows L: Int) -> FLOPCount {
        modulation.forwardFLOPs(rows: 1) + linear.forwardFLOPs(rows: L)
    }
}
