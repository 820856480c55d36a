import TensorCore

/// The pieces FLUX's blocks share: the adaLN-modulated LayerNorm, the gated residual, and
/// the per-head RMSNorm of queries and keys. Forward and backward of each over a packed
/// (rows, dim) stream of several samples (`Segments`): sample b's modulation vectors (shift,
/// scale, gate: `dim` values each) are at `mod + b * modStride + k * dim` for vector k.
enum BlockKernels {
    /// n = LayerNorm(x) (no affine, eps 1e-6) over every row; m = (1 + scale_b) * n + shift_b
    /// on sample b's rows, with shift and scale the modulation vectors numbered `shift`, `scale`.
    static func adaLNForward(_ seg: Segments, dim: Int, x: UnsafePointer<Float>, mod: UnsafePointer<Float>, modStride: Int,
                             shift: Int, scale: Int, n: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>,
                             mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) {
        NormKernels.layerNormForward(rows: seg.total, dim: dim, eps: 1e-6, x: x, weight: nil, bias: nil, y: n, mean: mean, rstd: rstd)
        for b in 0..<seg.count {
            let o = seg.offsets[b] * dim, v = mod + b * modStride
            ModulationKernels.modulate(rows: seg.counts[b], dim: dim, n: n + o, shift: v + shift * dim, scale: v + scale * dim, m: m + o)
        }
    }

    /// From dm: dshift_b += sum dm, dscale_b += sum dm * n (into dmod, laid out as mod), and
    /// dx += LayerNorm'(x)^T (dm * (1 + scale_b)). `dn` is (rows, dim) scratch.
    static func adaLNBackward(_ seg: Segments, dim: Int, x: UnsafePointer<Float>, n: UnsafePointer<Float>,
                              mod: UnsafePointer<Float>, modStride: Int, shift: Int, scale: Int, dm: UnsafePointer<Float>,
                              dmod: UnsafeMutablePointer<Float>, dn: UnsafeMutablePointer<Float>, mean: UnsafePointer<Float>,
                              rstd: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
        for b in 0..<seg.count {
            let o = seg.offsets[b] * dim, v = mod + b * modStride, dv = dmod + b * modStride
            ModulationKernels.modulateBackward(rows: seg.counts[b], dim: dim, n: n + o, scale: v + scale * dim, dm: dm + o,
                                               dshift: dv + shift * dim, dscale: dv + scale * dim, dn: dn + o)
        }
        NormKernels.layerNormBackwardAccumulate(rows: seg.total, dim: dim, x: x, dy: dn, mean: mean, rstd: rstd,
                                                weight: nil, dx: dx, dweight: nil, dbias: nil)
    }

    /// x += gate_b * f on sample b's rows (gate: the modulation vector numbered `gate`).
    static func gatedResidualForward(_ seg: Segments, dim: Int, mod: UnsafePointer<Float>, modStride: Int, gate: Int,
                                     f: UnsafePointer<Float>, x: UnsafeMutablePointer<Float>) {
        for b in 0..<seg.count {
            let o = seg.offsets[b] * dim
            ModulationKernels.gatedResidualForward(rows: seg.counts[b], dim: dim, gate: mod + b * modStride + gate * dim, f: f + o, x: x + o)
        }
    }

    /// From dx (the gradient at the residual's output): dgate_b += sum dx * f; df = dx * gate_b.
    static func gatedResidualBackward(_ seg: Segments, dim: Int, mod: UnsafePointer<Float>, modStride: Int, gate: Int,
                                      f: UnsafePointer<Float>, dx: UnsafePointer<Float>, dmod: UnsafeMutablePointer<Float>,
                                      df: UnsafeMutablePointer<Float>) {
        for b in 0..<seg.count {
            let o = seg.offsets[b] * dim, k = b * modStride + gate * dim
            ModulationKernels.gatedResidualBackward(rows: seg.counts[b], dim: dim, gate: mod + k, f: f + o, dx: dx + o,
                                                    dgate: dmod + k, df: df + o)
        }
    }

    /// Per-head RMSNorm: for each head h, y[:, h] = RMSNorm(x[:, h]) * scale, where x has
    /// row stride `xStride` and y row stride `yStride`; rrms is (heads, rrmsStride).
    static func headRMSNormForward(rows: Int, heads: Int, headDim: Int, x: UnsafePointer<Float>, xStride: Int,
                                   scale: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, yStride: Int,
                                   rrms: UnsafeMutablePointer<Float>, rrmsStride: Int? = nil) {
        for h in 0..<heads {
            NormKernels.rmsNormForward(rows: rows, dim: headDim, stride: xStride, eps: 1e-6, x: x + h * headDim,
                                       scale: scale, y: y + h * headDim, yStride: yStride, rrms: rrms + h * (rrmsStride ?? rows))
        }
    }

    /// dx += RMSNorm'^T dy per head; dscale += its scale gradient (when trainable).
    static func headRMSNormBackward(rows: Int, heads: Int, headDim: Int, x: UnsafePointer<Float>, xStride: Int,
                                    dy: UnsafePointer<Float>, dyStride: Int, rrms: UnsafePointer<Float>, rrmsStride: Int? = nil,
                                    scale: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, dxStride: Int,
                                    dscale: UnsafeMutablePointer<Float>?) {
        for h in 0..<heads {
            NormKernels.rmsNormBackwardAccumulate(rows: rows, dim: headDim, stride: xStride, x: x + h * headDim,
                                                  dy: dy + h * headDim, dyStride: dyStride, rrms: rrms + h * (rrmsStride ?? rows),
                                                  scale: scale, dx: dx + h * headDim, dxStride: dxStride, dscale: dscale)
        }
    }
}
