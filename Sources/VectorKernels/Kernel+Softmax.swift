/// Row-wise softmax over a (rows, cols) matrix, forward in place and backward.
extension Kernel {
    /// p[r, :] = softmax(p[r, :] * scale), in place, max-subtracted for stability.
    @inlinable @inline(__always)
    public static func softmaxForwardInPlace(_ rows: Int, _ cols: Int, _ scale: Float, _ p: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = p + r * cols
            var m = Lanes(repeating: -.infinity)
            FastMath.chunks(cols) { i, c in m = FastMath.maximum(m, FastMath.load(row + i, c, pad: -.infinity) * scale) }
            let top = FastMath.max(m)
            // exp and the row sum in one pass (padding lanes of the tail add nothing).
            var s = Lanes(repeating: 0)
            FastMath.chunks(cols) { i, c in
                var e = FastMath.exp(FastMath.load(row + i, c) * scale - top)
                if c < 16 { for j in c..<16 { e[j] = 0 } }
                s += e
                FastMath.store(e, row + i, c)
            }
            let inv = Lanes(repeating: 1 / FastMath.sum(s))
            FastMath.chunks(cols) { i, c in FastMath.store(FastMath.load(row + i, c) * inv, row + i, c) }
        }
    }

    /// ds = p * (dp - sum(dp * p)) per row, written into `dp` in place (the gradient with
    /// respect to the softmax input before `scale`; multiply by scale after).
    @inlinable @inline(__always)
    public static func softmaxBackwardInPlace(_ rows: Int, _ cols: Int, _ p: UnsafePointer<Float>, _ dp: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let pr = p + r * cols, dr = dp + r * cols
            let s = Lanes(repeating: dot(cols, dr, pr))
            FastMath.chunks(cols) { i, c in
                let pv = FastMath.load(pr + i, c)
                FastMath.store(pv * (FastMath.load(dr + i, c) - s), dr + i, c)
            }
        }
    }
}
