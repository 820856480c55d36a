/// RoPE's rotation of adjacent pairs and AdamW's update, element-wise.
extension Kernel {
    /// Rotates each head of x (rows, heads * 2 * pairs; row stride `stride`) in place by the
    /// per-row angles in cos/sin (rows, pairs): (x0, x1) -> (c x0 - s x1, s x0 + c x1), with
    /// s negated by `sign` = -1 (the inverse rotation, for backward).
    @inlinable @inline(__always)
    public static func rotatePairs(_ rows: Int, _ heads: Int, _ pairs: Int, _ cosines: UnsafePointer<Float>,
                                   _ sines: UnsafePointer<Float>, _ x: UnsafeMutablePointer<Float>, _ stride: Int, _ sign: Float) {
        let headDim = 2 * pairs
        for r in 0..<rows {
            let cr = cosines + r * pairs, sr = sines + r * pairs, row = x + r * stride
            for h in 0..<heads {
                let v = row + h * headDim
                // 8 pairs (16 values) at a time: even lanes x0, odd lanes x1.
                var k = 0
                while k + 8 <= pairs {
                    let xv = FastMath.load(v + 2 * k)
                    let c8 = UnsafeRawPointer(cr + k).loadUnaligned(as: SIMD8<Float>.self)
                    let s8 = UnsafeRawPointer(sr + k).loadUnaligned(as: SIMD8<Float>.self) * sign
                    let x0 = xv.evenHalf, x1 = xv.oddHalf
                    let y0 = c8 * x0 - s8 * x1, y1 = s8 * x0 + c8 * x1
                    var out = Lanes()
                    out.evenHalf = y0
                    out.oddHalf = y1
                    FastMath.store(out, v + 2 * k)
                    k += 8
                }
                while k < pairs {
                    let x0 = v[2 * k], x1 = v[2 * k + 1], s = sign * sr[k], c = cr[k]
                    v[2 * k] = c * x0 - s * x1
                    v[2 * k + 1] = s * x0 + c * x1
                    k += 1
                }
            }
        }
    }

    /// One AdamW step over n weights, the gradients scaled by s (clipping) as they are read:
    /// g' = s g; m = b1 m + (1 - b1) g'; v = b2 v + (1 - b2) g'^2;
    /// w -= (rate / c1) m / (sqrt(v (1 / c2)) + eps) + decay * w (c1, c2: bias corrections).
    /// One division and one square root per element (the bias corrections folded into
    /// constants), one pass over w, g, m and v: the optimizer is memory-bound at stage base.
    @inlinable @inline(__always)
    public static func adamW(_ n: Int, _ w: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ s: Float,
                             _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>,
                             _ b1: Float, _ b2: Float, _ c1: Float, _ c2: Float, _ rate: Float, _ decay: Float, _ eps: Float) {
        let stepSize = rate / c1, inverseC2 = 1 / c2, a1 = 1 - b1, a2 = 1 - b2
        FastMath.chunks(n) { i, c in
            let gi = FastMath.load(g + i, c) * s
            let mi = b1 * FastMath.load(m + i, c) + a1 * gi
            let vi = b2 * FastMath.load(v + i, c) + a2 * gi * gi
            FastMath.store(mi, m + i, c)
            FastMath.store(vi, v + i, c)
            let wi = FastMath.load(w + i, c)
            FastMath.store(wi - (stepSize * mi / ((vi * inverseC2).squareRoot() + eps) + decay * wi), w + i, c)
        }
    }
}
