import Foundation
import TensorCore

/// One GEMM shape of a step (`uso bench step --gemm-shapes N`): its calls, their time
/// replayed on their own, share of the step's GEMM time and rate. Shows which products run
/// below the machine's GEMM rate (skinny LoRA products, attention's head-width products).
public struct GemmShape: Sendable, Codable, Equatable {
    public var transA: Bool, transB: Bool
    public var m: Int, n: Int, k: Int
    /// beta == 0: OpenBLAS zeroes C before the product (a pass over C).
    public var betaZero: Bool
    public var calls: Int
    /// Time of all `calls` replayed alone (median of `repeats` passes per call, summed).
    public var seconds: Double
    /// Share of the summed replay time of every shape.
    public var share: Double
    public var gflops: Double

    /// "NT" for transA false, transB true: cblas's row-major transposes, as the model calls them.
    public var transposes: String { (transA ? "T" : "N") + (transB ? "T" : "N") }

    /// Back-to-back runs per call whose median is kept.
    public static let repeats = 15
}

extension SgemmReplay {
    /// Every call of the recorded step timed on its own (`repeats` back-to-back runs, the
    /// median kept), grouped by (transposes, m, n, k, beta 0), longest total time first.
    func shapeProfile(repeats: Int = GemmShape.repeats) -> [GemmShape] {
        struct Key: Hashable { let transA, transB: Bool; let m, n, k: Int; let betaZero: Bool }
        var groups: [Key: (seconds: Double, calls: Int)] = [:]
        var order: [Key] = []
        for x in calls {
            var times: [Double] = []
            times.reserveCapacity(repeats)
            for _ in 0..<repeats {
                let t0 = DispatchTime.now().uptimeNanoseconds
                Gemm.multiply(transA: x.transA, transB: x.transB, m: x.m, n: x.n, k: x.k, a: a.data, lda: x.lda, b: b.data,
                              ldb: x.ldb, beta: x.beta == 0 ? 0 : 0.5, c: c.data, ldc: x.ldc)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
            }
            let key = Key(transA: x.transA, transB: x.transB, m: x.m, n: x.n, k: x.k, betaZero: x.beta == 0)
            if groups[key] == nil { order.append(key) }
            let old = groups[key] ?? (0, 0)
            groups[key] = (old.seconds + median(times), old.calls + 1)
        }
        let total = groups.values.reduce(0) { $0 + $1.seconds }
        return order.map { key in
            let g = groups[key]!
            let flops = Gemm.flops(m: key.m, n: key.n, k: key.k) * Double(g.calls)
            return GemmShape(transA: key.transA, transB: key.transB, m: key.m, n: key.n, k: key.k, betaZero: key.betaZero,
                             calls: g.calls, seconds: g.seconds, share: total > 0 ? g.seconds / total : 0,
                             gflops: g.seconds > 0 ? flops / g.seconds / 1e9 : 0)
        }.sorted { $0.seconds > $1.seconds }
    }
}

extension StepBenchmark {
    /// The table `--gemm-shapes N` prints: the N shapes of longest replay time.
    public static func renderShapes(_ shapes: [GemmShape], of all: Int) -> String {
        var lines = ["GEMM shapes by replay time (\(shapes.count) of \(all); each call alone, median of \(GemmShape.repeats) runs):",
                     "  op       m      n      k  beta0  calls       ms   share   GFLOP/s"]
        for s in shapes {
            lines.append(String(format: "  %@  %6d %6d %6d  %5@  %5d  %7.3f  %5.1f%%  %8.1f", s.transposes, s.m, s.n, s.k,
                                s.betaZero ? "yes" : "no", s.calls, s.seconds * 1e3, s.share * 100, s.gflops))
        }
        return lines.joined(separator: "\n")
    }
}
