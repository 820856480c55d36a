/// Element-wise kernels over contiguous Float32 buffers and (rows, cols) blocks.
extension Kernel {
    /// y[i] += x[i].
    @inlinable @inline(__always)
    public static func add(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        FastMath.chunks(n) { i, c in FastMath.store(FastMath.load(y + i, c) + FastMath.load(x + i, c), y + i, c) }
    }

    /// y[i] = value.
    @inlinable @inline(__always)
    public static func fill(_ n: Int, _ y: UnsafeMutablePointer<Float>, _ value: Float) {
        let v = Lanes(repeating: value)
        FastMath.chunks(n) { i, c in FastMath.store(v, y + i, c) }
    }

    /// y[i] += a * x[i].
    @inlinable @inline(__always)
    public static func axpy(_ n: Int, _ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        FastMath.chunks(n) { i, c in FastMath.store(FastMath.load(y + i, c) + a * FastMath.load(x + i, c), y + i, c) }
    }

    /// y[i] = x[i] * a (y may be x).
    @inlinable @inline(__always)
    public static func scale(_ n: Int, _ x: UnsafePointer<Float>, _ a: Float, _ y: UnsafeMutablePointer<Float>) {
        FastMath.chunks(n) { i, c in FastMath.store(FastMath.load(x + i, c) * a, y + i, c) }
    }

    /// dst[r, :cols] += src[r, :cols] with row strides.
    @inlinable @inline(__always)
    public static func addRows(_ rows: Int, _ cols: Int, _ src: UnsafePointer<Float>, _ srcStride: Int,
                               _ dst: UnsafeMutablePointer<Float>, _ dstStride: Int) {
        for r in 0..<rows { add(cols, src + r * srcStride, dst + r * dstStride) }
    }

    /// y[r, :] += bias for every row of y (rows, cols).
    @inlinable @inline(__always)
    public static func addBias(_ rows: Int, _ cols: Int, _ bias: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        for r in 0..<rows { add(cols, bias, y + r * cols) }
    }

    /// db[c] += sum over rows of dy[r, c]: a bias gradient.
    @inlinable @inline(__always)
    public static func sumRowsAccumulate(_ rows: Int, _ cols: Int, _ dy: UnsafePointer<Float>, _ db: UnsafeMutablePointer<Float>) {
        for r in 0..<rows { add(cols, dy + r * cols, db) }
    }
}
