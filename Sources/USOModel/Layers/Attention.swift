import TensorCore

/// Scaled dot-product attention over all tokens, per head: O = softmax(Q K^T / sqrt(d)) V.
/// Q, K, V and O are (tokens, heads * headDim) with heads side by side, as FLUX lays them
/// out; each head's slice is used in place through the GEMM's leading dimension.
public struct AttentionCore {
    public let heads: Int
    public let headDim: Int

    public init(heads: Int, headDim: Int) {
        self.heads = heads
        self.headDim = headDim
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
            Gemm.multiply(transA: false, transB: false, m: L, n: headDim, k: L, a: p, lda: L,
                          b: v + h * headDim, ldb: w, beta: 0, c: o + h * headDim, ldc: w)
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
            Gemm.multiply(transA: true, transB: false, m: L, n: headDim, k: L, a: p, lda: L,
                          b: dO + off, ldb: w, beta: 0, c: dv + off, ldc: w)
            // dQ_h = scale dS K_h ; dK_h = scale dS^T Q_h
            Gemm.multiply(transA: false, transB: false, m: L, n: headDim, k: L, alpha: scale, a: dp, lda: L,
                          b: k + off, ldb: w, beta: 0, c: dq + off, ldc: w)
            Gemm.multiply(transA: true, transB: false, m: L, n: headDim, k: L, alpha: scale, a: dp, lda: L,
                          b: q + off, ldb: w, beta: 0, c: dk + off, ldc: w)
        }
    }

    /// FLOPs of one forward over L tokens (the two products per head).
    public func forwardFLOPs(tokens L: Int) -> FLOPCount {
        FLOPCount(attention: Double(heads) * 2 * Gemm.flops(m: L, n: headDim, k: L))
    }
}
