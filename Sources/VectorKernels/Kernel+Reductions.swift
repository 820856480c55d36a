/// Reductions in 16 lanes (a plain `sum += x[i]` loop stays scalar under IEEE order), summed
/// across lanes in a fixed tree; the order differs from a sequential sum, the results agree to
/// float32 rounding. The Double forms accumulate in 2 x 8 Double lanes.
extension Kernel {
    @inlinable @inline(__always)
    public static func sum(_ n: Int, _ x: UnsafePointer<Float>) -> Float {
        var acc = Lanes(repeating: 0)
        FastMath.chunks(n) { i, c in acc += FastMath.load(x + i, c) }
        return FastMath.sum(acc)
    }

    @inlinable @inline(__always)
    public static func max(_ n: Int, _ x: UnsafePointer<Float>) -> Float {
        var acc = Lanes(repeating: -.infinity)
        FastMath.chunks(n) { i, c in acc = FastMath.maximum(acc, FastMath.load(x + i, c, pad: -.infinity)) }
        return FastMath.max(acc)
    }

    @inlinable @inline(__always)
    public static func dot(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        var acc = Lanes(repeating: 0)
        FastMath.chunks(n) { i, c in acc += FastMath.load(x + i, c) * FastMath.load(y + i, c) }
        return FastMath.sum(acc)
    }

    /// Sum of x[i] * y[i] in Double.
    @inlinable @inline(__always)
    public static func dotDouble(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Double {
        var lo = SIMD8<Double>(repeating: 0), hi = SIMD8<Double>(repeating: 0)
        FastMath.chunks(n) { i, c in
            let a = FastMath.load(x + i, c), b = FastMath.load(y + i, c)
            lo += SIMD8<Double>(a.lowHalf) * SIMD8<Double>(b.lowHalf)
            hi += SIMD8<Double>(a.highHalf) * SIMD8<Double>(b.highHalf)
        }
        let s = lo + hi
        let t = s.lowHalf + s.highHalf
        return (t[0] + t[2]) + (t[1] + t[3])
    }

    /// Sum of squares in Double.
    @inlinable @inline(__always)
    public static func sumOfSquares(_ n: Int, _ x: UnsafePointer<Float>) -> Double { dotDouble(n, x, x) }

    /// Whether every one of n values is finite (x - x is 0 exactly for finite x, NaN otherwise).
    @inlinable @inline(__always)
    public static func allFinite(_ n: Int, _ x: UnsafePointer<Float>) -> Bool {
        var acc = Lanes(repeating: 0)
        FastMath.chunks(n) { i, c in
            let v = FastMath.load(x + i, c)
            acc += v - v
        }
        return FastMath.sum(acc) == 0
    }
}
