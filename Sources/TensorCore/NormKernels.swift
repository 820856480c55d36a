/// LayerNorm and RMSNorm over the last dimension of a (rows, dim) matrix, forward and
/// backward, in the active tier. Statistics are saved by the forward for the backward.
public enum NormKernels {
    /// y = (x - mean) * rstd [* weight + bias]; saves mean and rstd per row.
    /// x, y: (rows, dim); weight, bias: (dim) or nil (no affine); mean, rstd: (rows).
    public static func layerNormForward(rows: Int, dim: Int, eps: Float, x: UnsafePointer<Float>,
                                        weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                                        y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                                        rstd: UnsafeMutablePointer<Float>) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.layerNorm, started) }
        activeKernels.layerNormForward(rows, dim, eps, x, weight, bias, y, mean, rstd)
    }

    /// dx += LayerNorm'(x)^T dy; dweight += sum(dy * xhat); dbias += sum(dy).
    public static func layerNormBackwardAccumulate(rows: Int, dim: Int, x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                                                   mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                                   weight: UnsafePointer<Float>?, dx: UnsafeMutablePointer<Float>,
                                                   dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.layerNorm, started) }
        activeKernels.layerNormBackwardAccumulate(rows, dim, x, dy, mean, rstd, weight, dx, dweight, dbias)
    }

    /// y = x * rrms * scale, rrms = 1 / sqrt(mean(x^2) + eps); saves rrms per row.
    /// x, y: (rows, dim) with row stride `stride` (a head's slice of a wider matrix); scale: (dim).
    public static func rmsNormForward(rows: Int, dim: Int, stride: Int, eps: Float, x: UnsafePointer<Float>,
                                      scale: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, yStride: Int,
                                      rrms: UnsafeMutablePointer<Float>) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.rmsNorm, started) }
        activeKernels.rmsNormForward(rows, dim, stride, eps, x, scale, y, yStride, rrms)
    }

    /// dx += RMSNorm'(x)^T dy; dscale += sum(dy * x * rrms).
    public static func rmsNormBackwardAccumulate(rows: Int, dim: Int, stride: Int, x: UnsafePointer<Float>,
                                                 dy: UnsafePointer<Float>, dyStride: Int, rrms: UnsafePointer<Float>,
                                                 scale: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, dxStride: Int,
                                                 dscale: UnsafeMutablePointer<Float>?) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.rmsNorm, started) }
        activeKernels.rmsNormBackwardAccumulate(rows, dim, stride, x, dy, dyStride, rrms, scale, dx, dxStride, dscale)
    }
}

/// FLUX's adaLN modulation and gated residual, and RoPE's pair rotation, in the active tier.
public enum ModulationKernels {
    /// m = (1 + scale) * n + shift over (rows, dim), scale and shift (dim).
    public static func modulate(rows: Int, dim: Int, n: UnsafePointer<Float>, shift: UnsafePointer<Float>,
                                scale: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.layerNorm, started) }
        activeKernels.modulate(rows, dim, n, shift, scale, m)
    }

    /// From dm: dshift += sum dm, dscale += sum dm * n, dn = dm * (1 + scale).
    public static func modulateBackward(rows: Int, dim: Int, n: UnsafePointer<Float>, scale: UnsafePointer<Float>,
                                        dm: UnsafePointer<Float>, dshift: UnsafeMutablePointer<Float>,
                                        dscale: UnsafeMutablePointer<Float>, dn: UnsafeMutablePointer<Float>) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.layerNorm, started) }
        activeKernels.modulateBackward(rows, dim, n, scale, dm, dshift, dscale, dn)
    }

    /// x += gate * f over (rows, dim).
    public static func gatedResidualForward(rows: Int, dim: Int, gate: UnsafePointer<Float>, f: UnsafePointer<Float>,
                                            x: UnsafeMutablePointer<Float>) {
        activeKernels.gatedResidualForward(rows, dim, gate, f, x)
    }

    /// From dx: dgate += sum dx * f; df = dx * gate.
    public static func gatedResidualBackward(rows: Int, dim: Int, gate: UnsafePointer<Float>, f: UnsafePointer<Float>,
                                             dx: UnsafePointer<Float>, dgate: UnsafeMutablePointer<Float>,
                                             df: UnsafeMutablePointer<Float>) {
        activeKernels.gatedResidualBackward(rows, dim, gate, f, dx, dgate, df)
    }

    /// Rotates adjacent pairs of each head of x (rows, heads * 2 * pairs; row stride `stride`)
    /// by the per-row angles in cosines/sines (rows, pairs); `inverse` rotates back (backward).
    public static func rotatePairs(rows: Int, heads: Int, pairs: Int, cosines: UnsafePointer<Float>, sines: UnsafePointer<Float>,
                                   x: UnsafeMutablePointer<Float>, stride: Int, inverse: Bool) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.rope, started) }
        activeKernels.rotatePairs(rows, heads, pairs, cosines, sines, x, stride, inverse ? -1 : 1)
    }
}
