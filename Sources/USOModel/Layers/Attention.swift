import TensorCore

/// Scaled dot-product attention over all tokens, per head: O = softmax(Q K^T / sqrt(d)) V.
/// Q, K, V and O are (tokens, heads * headDim) with heads side by side, as FLUX lays them
/// out; each head's slice is used in place through the GEMM's leading dimension.
public struct AttentionCore {
    public let heads: Int
    public let headDim: Int
    /// The most rows of one product over all L keys (P V, P^T dO, dS K, dS^T Q): longer ones
    /// run in row blocks of about this size, or whole when nil.
    public let productRows: Int?

    /// `productRows` nil picks `defaultProductRows` for this process's BLAS core; `Int.max`
    /// runs every product whole. Blocks change which OpenBLAS kernel runs, so results may differ
    /// from whole products by float rounding, not more (AttentionRowBlockTests).
    public init(heads: Int, headDim: Int, productRows: Int? = nil) {
        self.heads = heads
        self.headDim = headDim
        self.productRows = productRows ?? Self.defaultProductRows
    }

    /// Row blocks of at most 64 where OpenBLAS has small-matrix kernels (`BLASRuntime.smallMatrixLimit`),
    /// so that a block's product (rows x headDim x L) runs unpacked; nil (whole products) elsewhere.
    /// Sequences too long for 64 rows to fit the limit get smaller blocks that do, down to 16
    /// rows; beyond that products run whole (packing then pays for itself).
    public static var defaultProductRows: Int? { BLASRuntime.smallMatrixLimit > 0 ? 64 : nil }

    /// Calls body(r0, rows) over the row blocks of 0..<L for products over all L keys: blocks
    /// differing by at most one row, of at most `productRows` rows each and within the
    /// small-matrix limit, or one block.
    @inline(__always)
    func rowBlocks(_ L: Int, _ body: (Int, Int) -> Void) {
        guard let most = productRows, L > most else { body(0, L); return }
        let limit = BLASRuntime.smallMatrixLimit
        let fitting = limit > 0 ? limit / max(1, headDim * L) : most
        let cap = min(most, fitting)
        guard cap >= 16 else { body(0, L); return }
        let blocks = (L + cap - 1) / cap
        let (per, longer) = L.quotientAndRemainder(dividingBy: blocks)  // the first `longer` get one more row
        var r0 = 0
        for b in 0..<blocks { let r = per + (b < longer ? 1 : 0); body(r0, r); r0 += r }
    }

    var width: Int { heads * headDim }
    var scale: Float { 1 / Float(headDim).squareRoot() }

    /// Saved softmax probabilities and scratch.
    public final class Activations {
        let probabilities: Tensor  // (heads, capacity, capacity)
        let scratch: Tensor        // (capacity, capacity): dP in backward
        let capacity: Int
        init(heads: Int, capacity: Int, scratch: Tensor?) {
            precondition(scratch.map { $0.count >= capacity * capacity } ?? true, "attention scratch smaller than \(capacity)^2")
            self.capacity = capacity
            probabilities = Tensor(zeros: [heads, capacity, capacity])
            self.scratch = scratch ?? Tensor(zeros: [capacity, capacity])
        }
    }

    /// `scratch` (at least capacity^2 values) is dP's buffer in backward: pass one shared by
    /// every attention of a model (backward runs one at a time), or nil for its own.
    public func makeActivations(capacity: Int, scratch: Tensor? = nil) -> Activations {
        Activations(heads: heads, capacity: capacity, scratch: scratch)
    }

    /// o (L, width) = attention(q, k, v) over L tokens.
    public func forward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, tokens L: Int,
                        o: UnsafeMutablePointer<Float>, _ act: Activations) {
        precondition(L <= act.capacity, "attention over \(L) tokens, capacity \(act.capacity)")
        let w = width
        for h in 0..<heads {
            let p = act.probabilities.data + h * L * L
            // S = scale Q_h K_h^T (the scale as the product's alpha: the same rounding as scaling after).
            Gemm.multiply(transA: false, transB: true, m: L, n: L, k: headDim, alpha: scale, a: q + h * headDim, lda: w,
                          b: k + h * headDim, ldb: w, beta: 0, c: p, ldc: L)
            SoftmaxKernels.forwardInPlace(rows: L, cols: L, scale: 1, p)
            rowBlocks(L) { r0, r in
                Gemm.multiply(transA: false, transB: false, m: r, n: headDim, k: L, a: p + r0 * L, lda: L,
                              b: v + h * headDim, ldb: w, beta: 0, c: o + r0 * w + h * headDim, ldc: w)
            }
        }
    }

    /// Writes dq, dk, dv (L, width) (overwriting) from do (L, width).
    public func backward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, tokens L: Int,
                         dO: UnsafePointer<Float>, dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                         dv: UnsafeMutablePointer<Float>, _ act: Activations) {
        let w = width
        let dp = act.scratch.data
        for h in 0..<heads {
            let p = act.probabilities.data + h * L * L
            let off = h * headDim
            // dP = dO_h V_h^T
            Gemm.multiply(transA: false, transB: true, m: L, n: L, k: headDim, a: dO + off, lda: w,
                          b: v + off, ldb: w, beta: 0, c: dp, ldc: L)
            // dS = P * (dP - rowsum(dP * P)), then the 1/sqrt(d) of the scores. This is the
            // first read of P since the forward: a row-order stream, after which P is in cache
            // for dV (P^T dO on a P still in memory had run at 45 GFLOP/s against 76 replayed).
            SoftmaxKernels.backwardInPlace(rows: L, cols: L, p: p, dp)
            // dV_h = P^T dO_h
            rowBlocks(L) { r0, r in
                Gemm.multiply(transA: true, transB: false, m: r, n: headDim, k: L, a: p + r0, lda: L,
                              b: dO + off, ldb: w, beta: 0, c: dv + r0 * w + off, ldc: w)
            }
            // dQ_h = scale dS K_h ; dK_h = scale dS^T Q_h
            rowBlocks(L) { r0, r in
                Gemm.multiply(transA: false, transB: false, m: r, n: headDim, k: L, alpha: scale, a: dp + r0 * L, lda: L,
                              b: k + off, ldb: w, beta: 0, c: dq + r0 * w + off, ldc: w)
            }
            rowBlocks(L) { r0, r in
                Gemm.multiply(transA: true, transB: false, m: r, n: headDim, k: L, alpha: scale, a: dp + r0, lda: L,
                              b: q + off, ldb: w, beta: 0, c: dk + r0 * w + off, ldc: w)
            }
        }
    }

    /// FLOPs of one forward over L tokens (the two products per head).
    public func forwardFLOPs(tokens L: Int) -> FLOPCount {
        FLOPCount(attention: Double(heads) * 2 * Gemm.flops(m: L, n: headDim, k: L))
    }
}
