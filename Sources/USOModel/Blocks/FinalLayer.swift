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
        let xIn, n, m: Tensor, mod, dmod: Tensor, mean, rstd: Tensor, dM, dN, dX: Tensor
        var segments: Segments
        init(capacity cap: Int, samples: Int, dim d: Int) {
            xIn = Tensor(zeros: [cap, d]); n = Tensor(zeros: [cap, d]); m = Tensor(zeros: [cap, d])
            mod = Tensor(zeros: [samples, 2 * d]); dmod = Tensor(zeros: [samples, 2 * d]); mean = Tensor(zeros: [cap]); rstd = Tensor(zeros: [cap])
            dM = Tensor(zeros: [cap, d]); dN = Tensor(zeros: [cap, d]); dX = Tensor(zeros: [cap, d])
            segments = Segments(capacity: samples)
        }
    }

    /// Activations for `samples` samples of up to `capacity` rows each.
    public func makeActivations(capacity: Int, samples: Int = 1) -> Activations {
        Activations(capacity: capacity * samples, samples: samples, dim: hiddenSize)
    }

    /// out (rows, outChannels), samples packed by `segments`, from each sample's rows of x:
    /// sample b's `segments.counts[b]` rows start at `x + rowOffsets[b] * D` (its noisy tokens
    /// inside the joint sequence). sv: silu(vec) per sample (samples, D).
    public func forward(_ x: UnsafePointer<Float>, rowOffsets: [Int], segments seg: Segments, sv: UnsafePointer<Float>,
                        out: UnsafeMutablePointer<Float>, _ a: Activations) {
        let d = hiddenSize
        a.segments.set(seg.counts)
        modulation.forward(sv, rows: seg.count, a.mod.data, cache: nil)
        for b in 0..<seg.count {
            (a.xIn.data + seg.offsets[b] * d).update(from: x + rowOffsets[b] * d, count: seg.counts[b] * d)
        }
        BlockKernels.adaLNForward(seg, dim: d, x: a.xIn.data, mod: a.mod.data, modStride: 2 * d, shift: 0, scale: 1, n: a.n.data,
                                  m: a.m.data, mean: a.mean.data, rstd: a.rstd.data)
        linear.forward(a.m.data, rows: seg.total, out, cache: nil)
    }

    /// Adds the gradient at the input to each sample's rows of dx (at `rowOffsets`, as in
    /// forward) from dOut (rows, outChannels); dsv (samples, D) accumulates.
    public func backward(dOut: UnsafePointer<Float>, sv: UnsafePointer<Float>, dsv: UnsafeMutablePointer<Float>?,
                         dx: UnsafeMutablePointer<Float>, rowOffsets: [Int], _ a: Activations) {
        let d = hiddenSize, seg = a.segments, L = seg.total
        ElementwiseKernels.fill(UnsafeMutableBufferPointer(start: a.dmod.data, count: seg.count * 2 * d), with: 0)
        ElementwiseKernels.fill(UnsafeMutableBufferPointer(start: a.dX.data, count: L * d), with: 0)
        linear.backward(a.m.data, rows: L, dy: dOut, dx: a.dM.data, overwrite: true, cache: nil)
        BlockKernels.adaLNBackward(seg, dim: d, x: a.xIn.data, n: a.n.data, mod: a.mod.data, modStride: 2 * d, shift: 0, scale: 1,
                                   dm: a.dM.data, dmod: a.dmod.data, dn: a.dN.data, mean: a.mean.data, rstd: a.rstd.data, dx: a.dX.data)
        for b in 0..<seg.count {
            ElementwiseKernels.addRows(rows: seg.counts[b], cols: d, from: a.dX.data + seg.offsets[b] * d, stride: d,
                                       to: dx + rowOffsets[b] * d, stride: d)
        }
        modulation.backward(sv, rows: seg.count, dy: a.dmod.data, dx: dsv, cache: nil)
    }

    public func forwardFLOPs(rows L: Int) -> FLOPCount {
        modulation.forwardFLOPs(rows: 1) + linear.forwardFLOPs(rows: L)
    }
}
