/// Element-wise kernels and reductions over contiguous Float32 buffers, in the active tier.
///
/// They read and write caller-owned memory and never allocate. Kernels named `...Accumulate`
/// add into their output (`+=`), as gradient kernels do throughout (llm.c's convention):
/// callers zero gradient buffers once per step.
public enum ElementwiseKernels {
    /// y[i] += x[i] for every i. The two buffers must have the same count.
    /// This is the reduction MPI performs for a float sum, so its rate is the local
    /// limit an allreduce is held against.
    public static func add(_ x: UnsafeBufferPointer<Float>, into y: UnsafeMutableBufferPointer<Float>) {
        precondition(x.count == y.count, "add: \(x.count) elements into \(y.count)")
        guard let xp = x.baseAddress, let yp = y.baseAddress else { return }
        activeKernels.add(x.count, xp, yp)
    }

    /// y[i] = value for every i.
    public static func fill(_ y: UnsafeMutableBufferPointer<Float>, with value: Float) {
        guard let yp = y.baseAddress else { return }
        activeKernels.fill(y.count, yp, value)
    }

    /// y[i] += a * x[i], n elements.
    public static func axpy(_ n: Int, _ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        activeKernels.axpy(n, a, x, y)
    }

    /// y[i] = x[i] * a, n elements (y may be x).
    public static func scale(_ n: Int, _ x: UnsafePointer<Float>, by a: Float, into y: UnsafeMutablePointer<Float>) {
        activeKernels.scale(n, x, a, y)
    }

    /// Copies a (rows x cols) block with source and destination row strides (memcpy per row).
    public static func copyRows(rows: Int, cols: Int, from src: UnsafePointer<Float>, stride srcStride: Int,
                                to dst: UnsafeMutablePointer<Float>, stride dstStride: Int) {
        for r in 0..<rows {
            (dst + r * dstStride).update(from: src + r * srcStride, count: cols)
        }
    }

    /// Adds a (rows x cols) block with strides: dst += src.
    public static func addRows(rows: Int, cols: Int, from src: UnsafePointer<Float>, stride srcStride: Int,
                               to dst: UnsafeMutablePointer<Float>, stride dstStride: Int) {
        activeKernels.addRows(rows, cols, src, srcStride, dst, dstStride)
    }

    /// Adds `bias` (cols) to every row of y (rows x cols).
    public static func addBias(rows: Int, cols: Int, bias: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>) {
        activeKernels.addBias(rows, cols, bias, y)
    }

    /// db[c] += sum over rows of dy[r, c]: the bias gradient.
    public static func sumRowsAccumulate(rows: Int, cols: Int, _ dy: UnsafePointer<Float>, into db: UnsafeMutablePointer<Float>) {
        activeKernels.sumRowsAccumulate(rows, cols, dy, db)
    }

    /// Sum of x[i] * y[i] in Double.
    public static func dot(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Double {
        activeKernels.dotDouble(n, x, y)
    }

    /// Sum of squares in Double.
    public static func sumOfSquares(_ n: Int, _ x: UnsafePointer<Float>) -> Double {
        activeKernels.dotDouble(n, x, x)
    }

    /// Whether every one of n values is finite.
    public static func allFinite(_ n: Int, _ x: UnsafePointer<Float>) -> Bool {
        activeKernels.allFinite(n, x)
    }

    /// One AdamW step over n weights with moments m, v, the gradients multiplied by
    /// `gradientScale` as they are read: see `Kernel.adamW` (VectorKernels).
    public static func adamW(_ n: Int, weights w: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>, gradientScale: Float = 1,
                             m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, beta1: Float, beta2: Float,
                             correction1: Float, correction2: Float, rate: Float, decay: Float, eps: Float) {
        activeKernels.adamW(n, w, g, gradientScale, m, v, beta1, beta2, correction1, correction2, rate, decay, eps)
    }
}

/// Float32 reductions in 16-wide SIMD lanes, summed across lanes in a fixed tree order.
/// (The order differs from a sequential sum; the results agree to float32 rounding.)
public enum Reductions {
    public static func sum(_ n: Int, _ x: UnsafePointer<Float>) -> Float { activeKernels.sum(n, x) }
    public static func max(_ n: Int, _ x: UnsafePointer<Float>) -> Float { activeKernels.max(n, x) }
    public static func dot(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float { activeKernels.dot(n, x, y) }
}
