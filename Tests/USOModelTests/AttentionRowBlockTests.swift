import Foundation
import TensorCore
import Testing
@testable import USOModel
import USOTestSupport

/// The attention core's products over all L keys (P V forward; P^T dO, dS K, dS^T Q backward)
/// run in row blocks where OpenBLAS has small-matrix kernels. These tests hold the blocked
/// core to the whole one and both to a float64 reference of the same attention, at token
/// counts that split evenly, unevenly and not at all, so a block's wrong offset, a row left
/// out or one written twice fails here by far more than rounding.
struct AttentionRowBlockTests {
    /// Every row of 0..<L falls in exactly one block, in order; blocks differ by at most one
    /// row and stay within the cap (and the small-matrix limit, where this core has one).
    @Test func rowBlocksCoverEveryRowOnce() {
        for most in [16, 64] {
            for headDim in [8, 128] {
                let core = AttentionCore(heads: 1, headDim: headDim, productRows: most)
                for L in 1...600 {
                    var blocks: [(Int, Int)] = []
                    core.rowBlocks(L) { blocks.append(($0, $1)) }
                    var next = 0
                    for (r0, r) in blocks {
                        #expect(r0 == next && r > 0, "L \(L), productRows \(most): block at \(r0) of \(r) rows after row \(next)")
                        next = r0 + r
                    }
                    #expect(next == L, "L \(L), productRows \(most): blocks end at \(next)")
                    let sizes = blocks.map(\.1)
                    if blocks.count > 1 {
                        #expect(sizes.max()! - sizes.min()! <= 1, "L \(L): unequal blocks \(sizes)")
                        #expect(sizes.max()! <= most, "L \(L): block of \(sizes.max()!) rows over \(most)")
                        let limit = BLASRuntime.smallMatrixLimit
                        if limit > 0 { #expect(sizes.max()! * headDim * L <= limit, "L \(L), head \(headDim): block over the small-matrix limit") }
                    } else {
                        #expect(L <= most || BLASRuntime.smallMatrixLimit / (headDim * L) < 16,
                                "L \(L), productRows \(most): one block though it could split")
                    }
                }
            }
        }
        let whole = AttentionCore(heads: 1, headDim: 8, productRows: Int.max)
        var count = 0
        whole.rowBlocks(500) { r0, r in count += 1; #expect(r0 == 0 && r == 500) }
        #expect(count == 1)
    }

    /// Forward output and the three input gradients of the blocked core (blocks of 16 rows)
    /// against the whole core and against float64 loops, at L = 16 (one block), 48 (three
    /// equal), 67 (five of 14 or 13) over two heads of 8.
    @Test(arguments: [16, 48, 67])
    func blockedProductsMatchWholeAndAFloat64Reference(tokens L: Int) {
        let heads = 2, headDim = 8, w = heads * headDim
        var data = TestData(seed: UInt64(40 + L))
        let q = data.array(L * w, scale: 1.5), k = data.array(L * w, scale: 1.5), v = data.array(L * w), dO = data.array(L * w)
        let reference = Self.reference(q: q, k: k, v: v, dO: dO, tokens: L, heads: heads, headDim: headDim)
        var results: [String: [[Float]]] = [:]
        for (name, rows) in [("whole", Int.max), ("blocks of 16", 16)] {
            let core = AttentionCore(heads: heads, headDim: headDim, productRows: rows)
            let qT = Tensor(shape: [L, w], values: q), kT = Tensor(shape: [L, w], values: k), vT = Tensor(shape: [L, w], values: v)
            let dOT = Tensor(shape: [L, w], values: dO)
            let o = Tensor(zeros: [L, w]), dq = Tensor(zeros: [L, w]), dk = Tensor(zeros: [L, w]), dv = Tensor(zeros: [L, w])
            // Stale values where the outputs go: a row a block forgets to write keeps them.
            for t in [o, dq, dk, dv] { t.fill(7) }
            let acts = core.makeActivations(capacity: L)
            core.forward(q: qT.data, k: kT.data, v: vT.data, tokens: L, o: o.data, acts)
            core.backward(q: qT.data, k: kT.data, v: vT.data, tokens: L, dO: dOT.data, dq: dq.data, dk: dk.data, dv: dv.data, acts)
            let got = [o, dq, dk, dv].map { $0.toArray() }
            for (i, what) in ["o", "dq", "dk", "dv"].enumerated() {
                let c = Approx.compare(got[i], reference[i], .float32VersusFloat64, "\(name) \(what) at L \(L)")
                #expect(c.passed, "\(c)")
            }
            results[name] = got
        }
        // Blocks may pick another OpenBLAS kernel, so the two agree to rounding, not bits.
        for (i, what) in ["o", "dq", "dk", "dv"].enumerated() {
            let c = Approx.compare(results["blocks of 16"]![i], results["whole"]![i], Tolerance(absolute: 1e-6, relative: 1e-5),
                                   "blocked \(what) against whole at L \(L)")
            #expect(c.passed, "\(c)")
        }
    }

    /// o, dq, dk, dv of softmax(Q K^T / sqrt(d)) V per head in float64 loops, dO given.
    static func reference(q: [Float], k: [Float], v: [Float], dO: [Float], tokens L: Int, heads: Int, headDim: Int) -> [[Double]] {
        let w = heads * headDim, scale = 1 / Double(headDim).squareRoot()
        var o = [Double](repeating: 0, count: L * w), dq = o, dk = o, dv = o
        for h in 0..<heads {
            func at(_ x: [Float], _ t: Int, _ d: Int) -> Double { Double(x[t * w + h * headDim + d]) }
            var p = [[Double]](repeating: [Double](repeating: 0, count: L), count: L)
            for i in 0..<L {
                var s = (0..<L).map { j in scale * (0..<headDim).reduce(0.0) { $0 + at(q, i, $1) * at(k, j, $1) } }
                let m = s.max()!
                s = s.map { exp($0 - m) }
                let z = s.reduce(0, +)
                p[i] = s.map { $0 / z }
            }
            for i in 0..<L {
                for d in 0..<headDim { o[i * w + h * headDim + d] = (0..<L).reduce(0.0) { $0 + p[i][$1] * at(v, $1, d) } }
                let dp = (0..<L).map { j in (0..<headDim).reduce(0.0) { $0 + at(dO, i, $1) * at(v, j, $1) } }
                let rowDot = (0..<L).reduce(0.0) { $0 + p[i][$1] * dp[$1] }
                let ds = (0..<L).map { p[i][$0] * (dp[$0] - rowDot) }
                for j in 0..<L {
                    for d in 0..<headDim {
                        dq[i * w + h * headDim + d] += scale * ds[j] * at(k, j, d)
                        dk[j * w + h * headDim + d] += scale * ds[j] * at(q, i, d)
                        dv[j * w + h * headDim + d] += p[i][j] * at(dO, i, d)
                    }
                }
            }
        }
        return [o, dq, dk, dv]
    }
}
