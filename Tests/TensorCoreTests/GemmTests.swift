import TensorCore
import Testing
import USOTestSupport

/// cblas_sgemm through `Gemm.multiply`, every transpose combination and strided operands,
/// against a naive product in Double.
struct GemmTests {
    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func matchesNaiveProduct(transA: Bool, transB: Bool) {
        let m = 7, n = 5, k = 9
        var data = TestData(seed: 3)
        // Stored with padding columns, to exercise leading dimensions.
        let aRows = transA ? k : m, aCols = transA ? m : k, lda = aCols + 3
        let bRows = transB ? n : k, bCols = transB ? k : n, ldb = bCols + 2
        let ldc = n + 4
        let a = data.array(aRows * lda), b = data.array(bRows * ldb)
        var c = data.array(m * ldc)
        let c0 = c
        func A(_ i: Int, _ p: Int) -> Double { Double(transA ? a[p * lda + i] : a[i * lda + p]) }
        func B(_ p: Int, _ j: Int) -> Double { Double(transB ? b[j * ldb + p] : b[p * ldb + j]) }
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    Gemm.multiply(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5,
                                  a: ap.baseAddress!, lda: lda, b: bp.baseAddress!, ldb: ldb,
                                  beta: 2, c: cp.baseAddress!, ldc: ldc)
                }
            }
        }
        var got: [Float] = [], want: [Double] = []
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k { s += A(i, p) * B(p, j) }
                want.append(0.5 * s + 2 * Double(c0[i * ldc + j]))
                got.append(c[i * ldc + j])
            }
            // Padding untouched.
            #expect(Array(c[(i * ldc + n)..<(i * ldc + ldc)]) == Array(c0[(i * ldc + n)..<(i * ldc + ldc)]))
        }
        let cmp = Approx.compare(got, want, .float32VersusFloat64, "C")
        #expect(cmp.passed, "\(cmp)")
    }

    @Test func emptyInnerDimensionScalesC() {
        var c: [Float] = [1, 2, 3, 4]
        let a: [Float] = [0], b: [Float] = [0]
        c.withUnsafeMutableBufferPointer { cp in
            Gemm.multiply(transA: false, transB: false, m: 2, n: 2, k: 0, a: a, lda: 1, b: b, ldb: 2,
                          beta: 0, c: cp.baseAddress!, ldc: 2)
        }
        #expect(c == [0, 0, 0, 0])
    }

    @Test func tensorViewsShareStorage() {
        let t = Tensor(shape: [3, 2], values: [1, 2, 3, 4, 5, 6])
        let r = t.rows(1..<3)
        #expect(r.shape == [2, 2] && r.toArray() == [3, 4, 5, 6])
        r[0] = 30
        #expect(t[2] == 30)
        #expect(t.reshaped([2, 3]).shape == [2, 3])
        #expect(Int(bitPattern: Tensor(zeros: [5]).data) % 64 == 0)
    }
}
