/// exp, sigmoid and tanh for Float32 in 16-wide SIMD lanes, and the loads, stores and
/// chunking every vector kernel is written with. (libm's expf and tanhf are scalar calls,
/// and Swift will not vectorise a scalar polynomial with clamping: together they once took
/// half of a training step.)
///
/// exp: x = n ln2 + r with n = round(x / ln2) (Cody-Waite, ln2 split in two), e^r by its
/// Taylor series to degree 7 (|r| <= ln2 / 2, truncation below 2e-9 relative), times 2^n
/// built in the exponent bits. Inputs are clamped to [-87, 88.3], so results are finite and
/// normal (e^-87 stands for anything smaller). Measured against Double's exp: below 3e-7
/// relative error (FastMathTests).
///
/// Everything here is `@inline(__always)`: a kernel tier module (compiled for AVX2 or
/// AVX-512) inlines these bodies and so runs them at its own vector width. Only IEEE
/// operations appear (no fused multiply-add), so every tier computes the same bits.
public enum FastMath {
    public typealias Lanes = SIMD16<Float>

    @inlinable @inline(__always)
    public static func exp(_ x: Lanes) -> Lanes {
        var xc = x.replacing(with: -87, where: x .< -87)
        xc = xc.replacing(with: 88.3, where: xc .> 88.3)
        let magic = Lanes(repeating: 12_582_912)   // 1.5 * 2^23: adding and subtracting rounds to an integer
        let k = xc * 1.442_695_04 + magic
        let n = k - magic
        let r = (xc - n * 0.693_145_75) - n * 1.428_606_8e-6
        var p = Lanes(repeating: 1.984_127e-4)
        p = p * r + 1.388_888_9e-3
        p = p * r + 8.333_333_3e-3
        p = p * r + 4.166_666_6e-2
        p = p * r + 0.166_666_67
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        // k's low mantissa bits hold n: build 2^n in the exponent field without a conversion.
        let ni = unsafeBitCast(k, to: SIMD16<Int32>.self) &- 0x4B40_0000
        return p * unsafeBitCast((ni &+ 127) &<< 23, to: Lanes.self)
    }

    /// 1 / (1 + e^-x).
    @inlinable @inline(__always)
    public static func sigmoid(_ x: Lanes) -> Lanes { 1 / (1 + exp(-x)) }

    /// tanh(x) = 1 - 2 / (e^2x + 1); absolute error below 2e-7.
    @inlinable @inline(__always)
    public static func tanh(_ x: Lanes) -> Lanes { 1 - 2 / (exp(2 * x) + 1) }

    /// Scalar forms (the same arithmetic, one lane): for loop tails and single values.
    @inlinable public static func exp(_ x: Float) -> Float { exp(Lanes(repeating: x))[0] }
    @inlinable public static func sigmoid(_ x: Float) -> Float { sigmoid(Lanes(repeating: x))[0] }
    @inlinable public static func tanh(_ x: Float) -> Float { tanh(Lanes(repeating: x))[0] }

    /// Loads 16 values (unaligned).
    @inlinable @inline(__always)
    public static func load(_ p: UnsafePointer<Float>) -> Lanes { UnsafeRawPointer(p).loadUnaligned(as: Lanes.self) }

    /// Stores 16 values (unaligned).
    @inlinable @inline(__always)
    public static func store(_ v: Lanes, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lanes.self)
    }

    /// Loads `count` (at most 16) values, padding with `pad`.
    @inlinable @inline(__always)
    public static func load(_ p: UnsafePointer<Float>, _ count: Int, pad: Float = 0) -> Lanes {
        if count == 16 { return load(p) }
        var v = Lanes(repeating: pad)
        for j in 0..<count { v[j] = p[j] }
        return v
    }

    /// Stores the first `count` (at most 16) lanes.
    @inlinable @inline(__always)
    public static func store(_ v: Lanes, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
        if count == 16 { store(v, p); return }
        for j in 0..<count { p[j] = v[j] }
    }

    /// Calls body(offset, count) over 0..<n in chunks of 16 lanes (the last may be shorter).
    @inlinable @inline(__always)
    public static func chunks(_ n: Int, _ body: (Int, Int) -> Void) {
        var i = 0
        while i + 16 <= n { body(i, 16); i += 16 }
        if i < n { body(i, n - i) }
    }

    /// The sum of the lanes, in a fixed tree order (the same on every tier).
    @inlinable @inline(__always)
    public static func sum(_ v: Lanes) -> Float {
        let a = v.lowHalf + v.highHalf
        let b = a.lowHalf + a.highHalf
        let c = b.lowHalf + b.highHalf
        return c[0] + c[1]
    }

    /// Lane-wise maximum as a compare and blend (the standard library's `pointwiseMax`
    /// loops over lanes one by one).
    /// (Concrete types: the generic form's comparison also runs lane by lane.)
    @inlinable @inline(__always)
    public static func maximum(_ a: Lanes, _ b: Lanes) -> Lanes { a.replacing(with: b, where: b .> a) }
    @inlinable @inline(__always)
    public static func maximum(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a.replacing(with: b, where: b .> a) }
    @inlinable @inline(__always)
    public static func maximum(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float> { a.replacing(with: b, where: b .> a) }
    @inlinable @inline(__always)
    public static func maximum(_ a: SIMD2<Float>, _ b: SIMD2<Float>) -> SIMD2<Float> { a.replacing(with: b, where: b .> a) }

    /// The largest lane.
    @inlinable @inline(__always)
    public static func max(_ v: Lanes) -> Float {
        let a = maximum(v.lowHalf, v.highHalf)
        let b = maximum(a.lowHalf, a.highHalf)
        let c = maximum(b.lowHalf, b.highHalf)
        return Swift.max(c[0], c[1])
    }
}
