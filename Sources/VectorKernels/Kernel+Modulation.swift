/// FLUX's adaLN modulation and gated residual over a (rows, dim) stream, with per-`dim`
/// vectors (shift, scale, gate) from a modulation output.
extension Kernel {
    /// m = (1 + scale) * n + shift, row by row.
    @inlinable @inline(__always)
    public static func modulate(_ rows: Int, _ dim: Int, _ n: UnsafePointer<Float>, _ shift: UnsafePointer<Float>,
                                _ scale: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let nr = n + r * dim, mr = m + r * dim
            FastMath.chunks(dim) { i, c in
                FastMath.store((1 + FastMath.load(scale + i, c)) * FastMath.load(nr + i, c) + FastMath.load(shift + i, c), mr + i, c)
            }
        }
    }

    /// From dm: dshift += sum dm, dscale += sum dm * n, dn = dm * (1 + scale).
    @inlinable @inline(__always)
    public static func modulateBackward(_ rows: Int, _ dim: Int, _ n: UnsafePointer<Float>, _ scale: UnsafePointer<Float>,
                                        _ dm: UnsafePointer<Float>, _ dshift: UnsafeMutablePointer<Float>,
                                        _ dscale: UnsafeMutablePointer<Float>, _ dn: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let nr = n + r * dim, dmr = dm + r * dim, dnr = dn + r * dim
            FastMath.chunks(dim) { i, c in
                let d = FastMath.load(dmr + i, c)
                FastMath.store(FastMath.load(dshift + i, c) + d, dshift + i, c)
                FastMath.store(FastMath.load(dscale + i, c) + d * FastMath.load(nr + i, c), dscale + i, c)
                FastMath.store(d * (1 + FastMath.load(scale + i, c)), dnr + i, c)
            }
        }
    }

    /// x += gate * f, row by row.
    @inlinable @inline(__always)
    public static func gatedResidualForward(_ rows: Int, _ dim: Int, _ gate: UnsafePointer<Float>, _ f: UnsafePointer<Float>,
                                            _ x: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let fr = f + r * dim, xr = x + r * dim
            FastMath.chunks(dim) { i, c in
                FastMath.store(FastMath.load(xr + i, c) + FastMath.load(gate + i, c) * FastMath.load(fr + i, c), xr + i, c)
            }
        }
    }

    /// From dx (the gradient at the residual's output): dgate += sum dx * f; df = dx * gate.
    @inlinable @inline(__always)
    public static func gatedResidualBackward(_ rows: Int, _ dim: Int, _ gate: UnsafePointer<Float>, _ f: UnsafePointer<Float>,
                                             _ dx: UnsafePointer<Float>, _ dgate: UnsafeMutablePointer<Float>,
                                             _ df: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let fr = f + r * dim, dxr = dx + r * dim, dfr = df + r * dim
            FastMath.chunks(dim) { i, c in
                let d = FastMath.load(dxr + i, c)
                FastMath.store(FastMath.load(dgate + i, c) + d * FastMath.load(fr + i, c), dgate + i, c)
                FastMath.store(d * FastMath.load(gate + i, c), dfr + i, c)
            }
        }
    }
}
