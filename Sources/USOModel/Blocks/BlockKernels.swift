import TensorCore

/// The pieces FLUX's blocks share: the adaLN-modulated LayerNorm, the gated residual, and
/// the per-head RMSNorm of queries and keys. Forward and backward of each, over a
/// (rows, dim) stream; `dim`-vectors (shift, scale, gate) come from a modulation output.
enum BlockKernels {
    /// n = LayerNorm(x) (no affine, eps 1e-6); m = (1 + scale) * n + shift.
    static func adaLNForward(rows: Int, dim: Int, x: UnsafePointer<Float>, shift: UnsafePointer<Float>,
                             scale: UnsafePointer<Float>, n: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>,
                             mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) {
        NormKernels.layerNormForward(rows: rows, dim: dim, eps: 1e-6, x: x, weight: nil, bias: nil, y: n, mean: mean, rstd: rstd)
        ModulationKernels.modulate(rows: rows, dim: dim, n: n, shift: shift, scale: scale, m: m)
    }

    /// From dm: dshift += sum dm, dscale += sum dm * n, dx += LayerNorm'(x)^T (dm * (1 + scale)).
    /// `dn` is (rows, dim) scratch.
    static func adaLNBackward(rows: Int, dim: Int, x: UnsafePointer<Float>, n: UnsafePointer<Float>,
                              scale: UnsafePointer<Float>, dm: UnsafePointer<Float>,
                              dshift: UnsafeMutablePointer<Float>, dscale: UnsafeMutablePointer<Float>,
                              dn: UnsafeMutablePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                              dx: UnsafeMutablePointer<Float>) {
        ModulationKernels.modulateBackward(rows: rows, dim: dim, n: n, scale: scale, dm: dm, dshift: dshift, dscale: dscale, dn: dn)
        NormKernels.layerNormBackwardAccumulate(rows: rows, dim: dim, x: x, dy: dn, mean: mean, rstd: rstd,
                                                weight: nil, dx: dx, dweight: nil, dbias: nil)
    }

    /// x += gate * f (rows, dim).
    static func gatedResidualForward(rows: Int, dim: Int, gate: UnsafePointer<Float>, f: UnsafePointer<Float>,
                                     x: UnsafeMutablePointer<Float>) {
        ModulationKernels.gatedResidualForward(rows: rows, dim: dim, gate: gate, f: f, x: x)
    }

    /// From dx (the gradient at the residual's output): dgate += sum dx * f; df = dx * gate.
    static func gatedResidualBackward(rows: Int, dim: Int, gate: UnsafePointer<Float>, f: UnsafePointer<Float>,
                                      dx: UnsafePointer<Float>, dgate: UnsafeMutablePointer<Float>,
                                      df: UnsafeMutablePointer<Float>) {
        ModulationKernels.gatedResidualBackward(rows: rows, dim: dim, gate: gate, f: f, dx: dx, dgate: dgate, df: df)
    }

    /// Per-head RMSNorm: for each head h, y[:, h] = RMSNorm(x[:, h]) * scale, where x has
    /// row stride `xStride` and y row stride `yStride`; rrms is (heads, rows).
    static func headRMSNormForward(rows: Int, heads: Int, headDim: Int, x: UnsafePointer<Float>, xStride: Int,
                                   scale: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, yStride: Int,
                                   rrms: UnsafeMutablePointer<Float>) {
        for h in 0..<heads {
            NormKernels.rmsNormForward(rows: rows, dim: headDim, stride: xStride, eps: 1e-6, x: x + h * headDim,
                                       scale: scale, y: y + h * headDim, yStride: yStride, rrms: rrms + h * rows)
        }
    }

    /// dx += RMSNorm'^T dy per head; dscale += its scale gradient (when trainable).
    static func headRMSNormBackward(rows: Int, heads: Int, headDim: Int, x: UnsafePointer<Float>, xStride: Int,
                                    dy: UnsafePointer<Float>, dyStride: Int, rrms: UnsafePointer<Float>,
                                    scale: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, dxStride: Int,
                                    dscale: UnsafeMutablePointer<Float>?) {
        for h in 0..<heads {
            NormKernels.rmsNormBackwardAccumulate(rows: rows, dim: headDim, stride: xStride, x: x + h * headDim,
                                                  dy: dy + h * headDim, dyStride: dyStride, rrms: rrms + h * rows,
                                                  scale: scale, dx: dx + h * headDim, dxStride: dxStride, dscale: dscale)
        }
    }
}
