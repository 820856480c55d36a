internal import CBLAS

/// Matrix products through OpenBLAS's `cblas_sgemm`, row-major.
///
/// Every GEMM of the model goes through here. Leading dimensions are explicit so that a
/// head's slice of a (tokens, heads * head_dim) matrix is used in place (strided), which is
/// how attention runs per head without copies.
public enum Gemm {
    /// One call's shape, as `uso bench step` records and replays them.
    public struct Call: Sendable, Hashable {
        public var transA: Bool, transB: Bool
        public var m: Int, n: Int, k: Int
        public var lda: Int, ldb: Int, ldc: Int
        public var beta: Float

        @inlinable
        public init(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int, beta: Float) {
            self.transA = transA; self.transB = transB; self.m = m; self.n = n; self.k = k
            self.lda = lda; self.ldb = ldb; self.ldc = ldc; self.beta = beta
        }
    }

    /// When set, every call is reported to it first (off by default: one branch per call).
    nonisolated(unsafe) public static var recorder: ((Call) -> Void)?

    /// C (m x n) = alpha * op(A) * op(B) + beta * C, where op(A) is m x k and op(B) is k x n.
    /// `lda`, `ldb`, `ldc` are the row strides of A, B, C as stored.
    @inlinable
    public static func multiply(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if let recorder { recorder(Call(transA: transA, transB: transB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, beta: beta)) }
        let started = KernelTimer.start()
        defer { KernelTimer.stop(.gemm, started) }
        if m == 0 || n == 0 { return }
        if k == 0 {
            // BLAS leaves C * beta; make that explicit for beta == 0 (C may hold garbage).
            for i in 0..<m {
                for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : c[i * ldc + j] * beta }
            }
            return
        }
        sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    @usableFromInline
    static func sgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                      _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                      _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The FLOPs of one m x n x k product (2mnk).
    @inlinable
    public static func flops(m: Int, n: Int, k: Int) -> Double { 2 * Double(m) * Double(n) * Double(k) }
}
