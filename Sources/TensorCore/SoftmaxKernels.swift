/// Row-wise softmax over a (rows, cols) matrix, forward in place and backward.
public enum SoftmaxKernels {
    /// p[r, :] = softmax(p[r, :] * scale), in place, max-subtracted for stability.
    @inlinable
    public static func forwardInPlace(rows: Int, cols: Int, scale: Float, _ p: UnsafeMutablePointer<Float>) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.softmax, started) }
        for r in 0..<rows {
            let row = p + r * cols
            // max(scale * x) = scale * max(x) for the positive scales attention uses.
            let m = scale > 0 ? scale * Reductions.max(cols, row) : {
                var v = -Float.infinity
                for c in 0..<cols { v = Swift.max(v, row[c] * scale) }
                return v
            }()
            FastMath.chunks(cols) { i, c in
                FastMath.store(FastMath.exp(FastMath.load(row + i, c) * scale - m), row + i, c)
            }
            let inv = 1 / Reductions.sum(cols, row)
            for c in 0..<cols { row[c] *= inv }
        }
    }

    /// ds = p * (dp - sum(dp * p)) per row, written into `dp` in place (the gradient with
    /// respect to the softmax input before `scale`; multiply by scale after).
    @inlinable
    public static func backwardInPlace(rows: Int, cols: Int, p: UnsafePointer<Float>, _ dp: UnsafeMutablePointer<Float>) {
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.softmax, started) }
        for r in 0..<rows {
            let pr = p + r * cols, dr = dp + r * cols
            let s = Reductions.dot(cols, dr, pr)
            for c in 0..<cols { dr[c] = pr[c] * (dr[c] - s) }
        }
    }
}
