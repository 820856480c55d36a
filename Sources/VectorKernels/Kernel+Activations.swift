/// SiLU and tanh-GELU, forward and backward, element-wise over n values.
extension Kernel {
    /// y = x * sigmoid(x).
    @inlinable @inline(__always)
    public static func siluForward(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        FastMath.chunks(n) { i, c in
            let v = FastMath.load(x + i, c)
            FastMath.store(v * FastMath.sigmoid(v), y + i, c)
        }
    }

    /// dx += dy * silu'(x), silu'(x) = s + x s (1 - s), s = sigmoid(x).
    @inlinable @inline(__always)
    public static func siluBackwardAccumulate(_ n: Int, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                              _ dx: UnsafeMutablePointer<Float>) {
        FastMath.chunks(n) { i, c in
            let v = FastMath.load(x + i, c)
            let s = FastMath.sigmoid(v)
            let g = FastMath.load(dy + i, c) * (s + v * s * (1 - s))
            FastMath.store(FastMath.load(dx + i, c) + g, dx + i, c)
        }
    }

    @inlinable @inline(__always) static var geluC: Float { 0.7978845608028654 }  // sqrt(2 / pi)
    @inlinable @inline(__always) static var geluK: Float { 0.044715 }

    /// gelu'(v) for the tanh form.
    @inlinable @inline(__always)
    static func geluDerivative(_ v: Lanes) -> Lanes {
        let t = FastMath.tanh(geluC * (v + geluK * v * v * v))
        let du = geluC * (1 + 3 * geluK * v * v)
        return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du
    }

    /// y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): PyTorch's GELU(approximate="tanh").
    @inlinable @inline(__always)
    public static func geluForward(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        FastMath.chunks(n) { i, c in
            let v = FastMath.load(x + i, c)
            FastMath.store(0.5 * v * (1 + FastMath.tanh(geluC * (v + geluK * v * v * v))), y + i, c)
        }
    }

    /// dx += dy * gelu'(x).
    @inlinable @inline(__always)
    public static func geluBackwardAccumulate(_ n: Int, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                              _ dx: UnsafeMutablePointer<Float>) {
        FastMath.chunks(n) { i, c in
            let g = FastMath.load(dy + i, c) * geluDerivative(FastMath.load(x + i, c))
            FastMath.store(FastMath.load(dx + i, c) + g, dx + i, c)
        }
    }

    /// g = gelu(h), and h = gelu'(h) written over the input: for a training forward, whose
    /// backward then needs one product (`geluBackwardFromSlope`) instead of a second tanh.
    /// g has the bits of `geluForward`, and the slope those of `geluDerivative`.
    @inlinable @inline(__always)
    public static func geluForwardSavingSlope(_ n: Int, _ h: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>) {
        FastMath.chunks(n) { i, c in
            let v = FastMath.load(h + i, c)
            let t = FastMath.tanh(geluC * (v + geluK * v * v * v))
            FastMath.store(0.5 * v * (1 + t), g + i, c)
            let du = geluC * (1 + 3 * geluK * v * v)
            FastMath.store(0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du, h + i, c)
        }
    }

    /// dx = dy * slope, the slope saved by `geluForwardSavingSlope` (dx may be the slope).
    @inlinable @inline(__always)
    public static func geluBackwardFromSlope(_ n: Int, _ slope: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                             _ dx: UnsafeMutablePointer<Float>) {
        FastMath.chunks(n) { i, c in FastMath.store(FastMath.load(dy + i, c) * FastMath.load(slope + i, c), dx + i, c) }
    }

    /// h[i] = dy[i] * gelu'(h[i]): the gradient at the GELU's input written over its saved input.
    @inlinable @inline(__always)
    public static func geluBackwardInPlace(_ n: Int, _ h: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>) {
        FastMath.chunks(n) { i, c in
            FastMath.store(FastMath.load(dy + i, c) * geluDerivative(FastMath.load(h + i, c)), h + i, c)
        }
    }
}
