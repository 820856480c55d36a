import Foundation

/// LayerNorm and RMSNorm over the last dimension of a (rows, dim) matrix, forward and
/// backward. Statistics are saved by the forward for the backward.
public enum NormKernels {
    /// y = (x - mean) * rstd [* weight + bias]; saves mean and rstd per row.
    /// x, y: (rows, dim); weight, bias: (dim) or nil (no affine); mean, rstd: (rows).
    @inlinable
    public static func layerNormForward(rows: Int, dim: Int, eps: Float, x: UnsafePointer<Float>,
                                        weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                                        y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                                        rstd: UnsafeMutablePointer<Float>) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.layerNorm, started) }
        for r in 0..<rows {
            let xr = x + r * dim, yr = y + r * dim
            var m: Float = 0
            for i in 0..<dim { m += xr[i] }
            m /= Float(dim)
            var v: Float = 0
            for i in 0..<dim {
                let d = xr[i] - m
                v += d * d
            }
            v /= Float(dim)
            let s = 1 / (v + eps).squareRoot()
            mean[r] = m
            rstd[r] = s
            if let weight, let bias {
                for i in 0..<dim { yr[i] = (xr[i] - m) * s * weight[i] + bias[i] }
            } else if let weight {
                for i in 0..<dim { yr[i] = (xr[i] - m) * s * weight[i] }
            } else {
                for i in 0..<dim { yr[i] = (xr[i] - m) * s }
            }
        }
    }

    /// dx += LayerNorm'(x)^T dy; dweight += sum(dy * xhat); dbias += sum(dy).
    @inlinable
    public static func layerNormBackwardAccumulate(rows: Int, dim: Int, x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                                                   mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                                   weight: UnsafePointer<Float>?, dx: UnsafeMutablePointer<Float>,
                                                   dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.layerNorm, started) }
        let n = Float(dim)
        for r in 0..<rows {
            let xr = x + r * dim, dyr = dy + r * dim, dxr = dx + r * dim
            let m = mean[r], s = rstd[r]
            // g = dy * weight; dx = s * (g - mean(g) - xhat * mean(g * xhat))
            var sumG: Float = 0
            var sumGX: Float = 0
            for i in 0..<dim {
                let xhat = (xr[i] - m) * s
                let g = weight.map { dyr[i] * $0[i] } ?? dyr[i]
                sumG += g
                sumGX += g * xhat
                if let dweight { dweight[i] += dyr[i] * xhat }
                if let dbias { dbias[i] += dyr[i] }
            }
            let meanG = sumG / n, meanGX = sumGX / n
            for i in 0..<dim {
                let xhat = (xr[i] - m) * s
                let g = weight.map { dyr[i] * $0[i] } ?? dyr[i]
                dxr[i] += s * (g - meanG - xhat * meanGX)
            }
        }
    }

    /// y = x * rrms * scale, rrms = 1 / sqrt(mean(x^2) + eps); saves rrms per row.
    /// x, y: (rows, dim) with row stride `stride` (a head's slice of a wider matrix); scale: (dim).
    @inlinable
    public static func rmsNormForward(rows: Int, dim: Int, stride: Int, eps: Float, x: UnsafePointer<Float>,
                                      scale: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, yStride: Int,
                                      rrms: UnsafeMutablePointer<Float>) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.rmsNorm, started) }
        for r in 0..<rows {
            let xr = x + r * stride, yr = y + r * yStride
            var ss: Float = 0
            for i in 0..<dim { ss += xr[i] * xr[i] }
            let q = 1 / (ss / Float(dim) + eps).squareRoot()
            rrms[r] = q
            for i in 0..<dim { yr[i] = xr[i] * q * scale[i] }
        }
    }

    /// dx += RMSNorm'(x)^T dy; dscale += sum(dy * x * rrms).
    @inlinable
    public static func rmsNormBackwardAccumulate(rows: Int, dim: Int, stride: Int, x: UnsafePointer<Float>,
                                                 dy: UnsafePointer<Float>, dyStride: Int, rrms: UnsafePointer<Float>,
                                                 scale: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, dxStride: Int,
                                                 dscale: UnsafeMutablePointer<Float>?) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.rmsNorm, started) }
        for r in 0..<rows {
            let xr = x + r * stride, dyr = dy + r * dyStride, dxr = dx + r * dxStride
            let q = rrms[r]
            // y_i = x_i q s_i; dx_j = q (g_j - x_j q^2 mean(g x)), g = dy * s
            var sumGX: Float = 0
            for i in 0..<dim {
                let g = dyr[i] * scale[i]
                sumGX += g * xr[i]
                if let dscale { dscale[i] += dyr[i] * xr[i] * q }
            }
            let c = q * q * q * sumGX / Float(dim)
            for i in 0..<dim { dxr[i] += q * dyr[i] * scale[i] - c * xr[i] }
        }
    }
}
