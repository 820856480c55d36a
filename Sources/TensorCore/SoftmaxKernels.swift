import Foundation

/// Row-wise softmax over a (rows, cols) matrix, forward in place and backward.
public enum SoftmaxKernels {
    /// p[r, :] = softmax(p[r, :] * scale), in place, max-subtracted for stability.
    @inlinable
    public static func forwardInPlace(rows: Int, cols: Int, scale: Float, _ p: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = p + r * cols
            var m = -Float.infinity
            for c in 0..<cols { m = max(m, row[c] * scale) }
            var sum: Float = 0
            for c in 0..<cols {
                let e = expf(row[c] * scale - m)
                row[c] = e
                sum += e
            }
            let inv = 1 / sum
            for c in 0..<cols { row[c] *= inv }
        }
    }

    /// ds = p * (dp - sum(dp * p)) per row, written into `dp` in place (the gradient with
    /// respect to the softmax input before `scale`; multiply by scale after).
    @inlinable
    public static func backwardInPlace(rows: Int, cols: Int, p: UnsafePointer<Float>, _ dp: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let pr = p + r * cols, dr = dp + r * cols
            var s: Float = 0
            for c in 0..<cols { s += dr[c] * pr[c] }
            for c in 0..<cols { dr[c] = pr[c] * (dr[c] - s) }
        }
    }
}
