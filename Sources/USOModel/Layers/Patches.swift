/// Non-overlapping p x p patches of a (3, S, S) image as rows (one per patch, row-major over
/// the patch grid), each row's values in (channel, row, col) order: the layout of a stride-p
/// convolution's weight (out, 3, p, p), so a patch embedding is one GEMM.
enum Patches {
    /// rows ((S/p)^2, 3 p^2) from image (3, S, S).
    static func extract(_ image: UnsafePointer<Float>, size s: Int, patch p: Int, into rows: UnsafeMutablePointer<Float>) {
        visit(size: s, patch: p) { row, pixel in rows[row] = image[pixel] }
    }

    /// image (3, S, S) from rows, written or (with `accumulate`) added.
    static func scatter(_ rows: UnsafePointer<Float>, size s: Int, patch p: Int, into image: UnsafeMutablePointer<Float>,
                        accumulate: Bool) {
        if accumulate {
            visit(size: s, patch: p) { row, pixel in image[pixel] += rows[row] }
        } else {
            visit(size: s, patch: p) { row, pixel in image[pixel] = rows[row] }
        }
    }

    /// Calls body(index in rows, index in image) for every value.
    @inline(__always)
    private static func visit(size s: Int, patch p: Int, _ body: (Int, Int) -> Void) {
        let grid = s / p, width = 3 * p * p
        for gy in 0..<grid {
            for gx in 0..<grid {
                var i = (gy * grid + gx) * width
                for ch in 0..<3 {
                    for py in 0..<p {
                        let base = ch * s * s + (gy * p + py) * s + gx * p
                        for px in 0..<p {
                            body(i, base + px)
                            i += 1
                        }
                    }
                }
            }
        }
    }
}
