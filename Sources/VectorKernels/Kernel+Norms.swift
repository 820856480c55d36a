/// LayerNorm and RMSNorm over the last dimension of a (rows, dim) matrix, forward and
/// backward; the forward saves the statistics the backward needs.
extension Kernel {
    /// y = (x - mean) * rstd [* weight + bias]; saves mean and rstd per row.
    @inlinable @inline(__always)
    public static func layerNormForward(_ rows: Int, _ dim: Int, _ eps: Float, _ x: UnsafePointer<Float>,
                                        _ weight: UnsafePointer<Float>?, _ bias: UnsafePointer<Float>?,
                                        _ y: UnsafeMutablePointer<Float>, _ mean: UnsafeMutablePointer<Float>,
                                        _ rstd: UnsafeMutablePointer<Float>) {
        let n = Float(dim)
        for r in 0..<rows {
            let xr = x + r * dim, yr = y + r * dim
            let m = sum(dim, xr) / n
            var acc = Lanes(repeating: 0)
            FastMath.chunks(dim) { i, c in
                var d = FastMath.load(xr + i, c) - m
                if c < 16 { for j in c..<16 { d[j] = 0 } }
                acc += d * d
            }
            let s = 1 / (FastMath.sum(acc) / n + eps).squareRoot()
            mean[r] = m
            rstd[r] = s
            if let weight, let bias {
                FastMath.chunks(dim) { i, c in
                    FastMath.store((FastMath.load(xr + i, c) - m) * s * FastMath.load(weight + i, c) + FastMath.load(bias + i, c), yr + i, c)
                }
            } else if let weight {
                FastMath.chunks(dim) { i, c in
                    FastMath.store((FastMath.load(xr + i, c) - m) * s * FastMath.load(weight + i, c), yr + i, c)
                }
            } else {
                FastMath.chunks(dim) { i, c in FastMath.store((FastMath.load(xr + i, c) - m) * s, yr + i, c) }
            }
        }
    }

    /// dx += LayerNorm'(x)^T dy; dweight += sum(dy * xhat); dbias += sum(dy) (each when given).
    @inlinable @inline(__always)
    public static func layerNormBackwardAccumulate(_ rows: Int, _ dim: Int, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                                   _ mean: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>,
                                                   _ weight: UnsafePointer<Float>?, _ dx: UnsafeMutablePointer<Float>,
                                                   _ dweight: UnsafeMutablePointer<Float>?, _ dbias: UnsafeMutablePointer<Float>?) {
        let n = Float(dim)
        for r in 0..<rows {
            let xr = x + r * dim, dyr = dy + r * dim, dxr = dx + r * dim
            let m = mean[r], s = rstd[r]
            // g = dy * weight; dx = s * (g - mean(g) - xhat * mean(g * xhat)). Tail lanes load 0.
            var sumG = Lanes(repeating: 0), sumGX = Lanes(repeating: 0)
            FastMath.chunks(dim) { i, c in
                let d = FastMath.load(dyr + i, c)
                var xhat = (FastMath.load(xr + i, c) - m) * s
                if c < 16 { for j in c..<16 { xhat[j] = 0 } }
                let g = weight.map { d * FastMath.load($0 + i, c) } ?? d
                sumG += g
                sumGX += g * xhat
                if let dweight { FastMath.store(FastMath.load(dweight + i, c) + d * xhat, dweight + i, c) }
                if let dbias { FastMath.store(FastMath.load(dbias + i, c) + d, dbias + i, c) }
            }
            let meanG = FastMath.sum(sumG) / n, meanGX = FastMath.sum(sumGX) / n
            FastMath.chunks(dim) { i, c in
                let d = FastMath.load(dyr + i, c)
                let xhat = (FastMath.load(xr + i, c) - m) * s
                let g = weight.map { d * FastMath.load($0 + i, c) } ?? d
                FastMath.store(FastMath.load(dxr + i, c) + s * (g - meanG - xhat * meanGX), dxr + i, c)
            }
        }
    }

    /// y = x * rrms * scale, rrms = 1 / sqrt(mean(x^2) + eps); saves rrms per row. x and y
    /// have row strides (a head's slice of a wider matrix); scale: (dim).
    @inlinable @inline(__always)
    public static func rmsNormForward(_ rows: Int, _ dim: Int, _ stride: Int, _ eps: Float, _ x: UnsafePointer<Float>,
                                      _ scale: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ yStride: Int,
                                      _ rrms: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let xr = x + r * stride, yr = y + r * yStride
            let q = 1 / (dot(dim, xr, xr) / Float(dim) + eps).squareRoot()
            rrms[r] = q
            FastMath.chunks(dim) { i, c in FastMath.store(FastMath.load(xr + i, c) * q * FastMath.load(scale + i, c), yr + i, c) }
        }
    }

    /// dx += RMSNorm'(x)^T dy; dscale += sum(dy * x * rrms) (when given).
    @inlinable @inline(__always)
    public static func rmsNormBackwardAccumulate(_ rows: Int, _ dim: Int, _ stride: Int, _ x: UnsafePointer<Float>,
                                                 _ dy: UnsafePointer<Float>, _ dyStride: Int, _ rrms: UnsafePointer<Float>,
                                                 _ scale: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ dxStride: Int,
                                                 _ dscale: UnsafeMutablePointer<Float>?) {
        for r in 0..<rows {
            let xr = x + r * stride, dyr = dy + r * dyStride, dxr = dx + r * dxStride
            let q = rrms[r]
            // y_i = x_i q s_i; dx_j = q (g_j - x_j q^2 mean(g x)), g = dy * s
            var sumGX = Lanes(repeating: 0)
            FastMath.chunks(dim) { i, c in
                let d = FastMath.load(dyr + i, c), xv = FastMath.load(xr + i, c)
                sumGX += d * FastMath.load(scale + i, c) * xv
                if let dscale { FastMath.store(FastMath.load(dscale + i, c) + d * xv * q, dscale + i, c) }
            }
            let k = q * q * q * FastMath.sum(sumGX) / Float(dim)
            FastMath.chunks(dim) { i, c in
                let d = FastMath.load(dyr + i, c), xv = FastMath.load(xr + i, c)
                FastMath.store(FastMath.load(dxr + i, c) + q * d * FastMath.load(scale + i, c) - k * xv, dxr + i, c)
            }
        }
    }
}
