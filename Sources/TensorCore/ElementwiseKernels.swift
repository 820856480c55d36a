/// Element-wise kernels over contiguous Float32 buffers.
///
/// Plain loops the compiler vectorises (AVX-512 on these machines); they read and write
/// caller-owned memory and never allocate. Kernels named `...Accumulate` add into their
/// output (`+=`), as gradient kernels do throughout (llm.c's convention): callers zero
/// gradient buffers once per step.
public enum ElementwiseKernels {
    /// y[i] += x[i] for every i. The two buffers must have the same count.
    /// This is the reduction MPI performs for a float sum, so its rate is the local
    /// limit an allreduce is held against.
    @inlinable
    public static func add(_ x: UnsafeBufferPointer<Float>, into y: UnsafeMutableBufferPointer<Float>) {
        precondition(x.count == y.count, "add: \(x.count) elements into \(y.count)")
        guard let xp = x.baseAddress, let yp = y.baseAddress else { return }
        for i in 0..<x.count { yp[i] += xp[i] }
    }

    /// y[i] = value for every i.
    @inlinable
    public static func fill(_ y: UnsafeMutableBufferPointer<Float>, with value: Float) {
        guard let yp = y.baseAddress else { return }
        for i in 0..<y.count { yp[i] = value }
    }

    /// y[i] += a * x[i], n elements.
    @inlinable
    public static func axpy(_ n: Int, _ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        for i in 0..<n { y[i] += a * x[i] }
    }

    /// y[i] = x[i] * a, n elements (y may be x).
    @inlinable
    public static func scale(_ n: Int, _ x: UnsafePointer<Float>, by a: Float, into y: UnsafeMutablePointer<Float>) {
        for i in 0..<n { y[i] = x[i] * a }
    }

    /// Copies a (rows x cols) block with source and destination row strides.
    @inlinable
    public static func copyRows(rows: Int, cols: Int, from src: UnsafePointer<Float>, stride srcStride: Int,
                                to dst: UnsafeMutablePointer<Float>, stride dstStride: Int) {
        for r in 0..<rows {
            (dst + r * dstStride).update(from: src + r * srcStride, count: cols)
        }
    }

    /// Adds a (rows x cols) block with strides: dst += src.
    @inlinable
    public static func addRows(rows: Int, cols: Int, from src: UnsafePointer<Float>, stride srcStride: Int,
                               to dst: UnsafeMutablePointer<Float>, stride dstStride: Int) {
        for r in 0..<rows {
            let s = src + r * srcStride, d = dst + r * dstStride
            for c in 0..<cols { d[c] += s[c] }
        }
    }

    /// Adds `bias` (cols) to every row of y (rows x cols).
    @inlinable
    public static func addBias(rows: Int, cols: Int, bias: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = y + r * cols
            for c in 0..<cols { row[c] += bias[c] }
        }
    }

    /// db[c] += sum over rows of dy[r, c]: the bias gradient.
    @inlinable
    public static func sumRowsAccumulate(rows: Int, cols: Int, _ dy: UnsafePointer<Float>, into db: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = dy + r * cols
            for c in 0..<cols { db[c] += row[c] }
        }
    }

    /// Sum of x[i] * y[i] in Double.
    @inlinable
    public static func dot(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Double {
        var s: Double = 0
        for i in 0..<n { s += Double(x[i]) * Double(y[i]) }
        return s
    }

    /// Sum of squares in Double.
    @inlinable
    public static func sumOfSquares(_ n: Int, _ x: UnsafePointer<Float>) -> Double {
        var s: Double = 0
        for i in 0..<n { s += Double(x[i]) * Double(x[i]) }
        return s
    }

    /// Whether every one of n values is finite.
    @inlinable
    public static func allFinite(_ n: Int, _ x: UnsafePointer<Float>) -> Bool {
        for i in 0..<n where !x[i].isFinite { return false }
        return true
    }
}
