/// Float32 reductions in 16-wide SIMD lanes: strict IEEE order keeps the compiler from
/// vectorising a plain `sum += x[i]` loop, so these reduce lane-wise and then across lanes.
/// (The order differs from a sequential sum; the results agree to float32 rounding.)
public enum Reductions {
    @inlinable
    public static func sum(_ n: Int, _ x: UnsafePointer<Float>) -> Float {
        var acc = SIMD16<Float>(repeating: 0)
        var i = 0
        while i + 16 <= n {
            acc += FastMath.load(x + i)
            i += 16
        }
        var s = acc.sum()
        while i < n { s += x[i]; i += 1 }
        return s
    }

    @inlinable
    public static func max(_ n: Int, _ x: UnsafePointer<Float>) -> Float {
        var acc = SIMD16<Float>(repeating: -.infinity)
        var i = 0
        while i + 16 <= n {
            let v = FastMath.load(x + i)
            acc = acc.replacing(with: v, where: v .> acc)
            i += 16
        }
        var m = -Float.infinity
        for j in 0..<16 where acc[j] > m { m = acc[j] }
        while i < n { m = x[i] > m ? x[i] : m; i += 1 }
        return m
    }

    @inlinable
    public static func dot(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        var acc = SIMD16<Float>(repeating: 0)
        var i = 0
        while i + 16 <= n {
            acc += FastMath.load(x + i) * FastMath.load(y + i)
            i += 16
        }
        var s = acc.sum()
        while i < n { s += x[i] * y[i]; i += 1 }
        return s
    }
}
