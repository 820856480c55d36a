import Foundation
import Testing
import USOTestSupport

/// `uso bench step --gemm-shapes N`: the shape table accounts for every GEMM call of the
/// step exactly once (calls and FLOPs add up to the step's), ordered and consistent; and the
/// option is refused where it has no meaning. (Functional, at preset tiny: the figures come
/// from release runs.)
@Suite(.serialized)
struct BenchStepShapesTests {
    struct Report: Decodable {
        struct Shape: Decodable {
            let transA, transB: Bool
            let m, n, k, calls: Int
            let betaZero: Bool
            let seconds, share, gflops: Double
        }
        let gemmCalls: Int
        let gemmCallFLOPs: Double
        let gemmShapes: [Shape]?
        let gemmShapeCount: Int?
    }

    func bench(_ arguments: [String], in dir: TemporaryDirectory) throws -> (Report, String) {
        let json = dir.url.appendingPathComponent("step.json").path
        let job = try MPIRun.runWithoutMPI(MPIRun.executable("uso"),
                                           ["bench", "step", "--preset", "tiny", "--iterations", "1", "--json", json] + arguments)
        #expect(job.exitCode == 0, "\(job.transcript)")
        return (try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: json))), job.stdout)
    }

    @Test func everyCallIsInTheTableOnce() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (r, _) = try bench(["--gemm-shapes", "100000"], in: dir)
        let shapes = try #require(r.gemmShapes, "no gemmShapes in the JSON")
        #expect(shapes.count == r.gemmShapeCount, "all \(r.gemmShapeCount ?? -1) shapes asked for, \(shapes.count) given")
        #expect(shapes.reduce(0) { $0 + $1.calls } == r.gemmCalls, "the table's calls do not add up to the step's \(r.gemmCalls)")
        let flops = shapes.reduce(0.0) { $0 + 2 * Double($1.m * $1.n * $1.k * $1.calls) }
        #expect(abs(flops - r.gemmCallFLOPs) <= 1e-9 * r.gemmCallFLOPs, "table FLOPs \(flops), step's \(r.gemmCallFLOPs)")
        #expect(abs(shapes.reduce(0) { $0 + $1.share } - 1) < 1e-9)
        for (a, b) in zip(shapes, shapes.dropFirst()) { #expect(a.seconds >= b.seconds, "not longest first") }
        for s in shapes where s.seconds > 0 {
            let rate = 2 * Double(s.m * s.n * s.k * s.calls) / s.seconds / 1e9
            #expect(abs(s.gflops - rate) <= 1e-9 * rate)
        }
        struct Key: Hashable { let ta, tb: Bool; let m, n, k: Int; let b0: Bool }
        let keys = shapes.map { Key(ta: $0.transA, tb: $0.transB, m: $0.m, n: $0.n, k: $0.k, b0: $0.betaZero) }
        #expect(Set(keys).count == keys.count, "a shape appears twice")
    }

    @Test func printsTheLongestN() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (r, stdout) = try bench(["--gemm-shapes", "3"], in: dir)
        #expect(r.gemmShapes?.count == 3)
        #expect(stdout.contains("GEMM shapes by replay time (3 of \(r.gemmShapeCount ?? -1);"), "\(stdout)")
        let rows = stdout.split(separator: "\n").filter { $0.hasPrefix("  NN ") || $0.hasPrefix("  NT ") || $0.hasPrefix("  TN ") || $0.hasPrefix("  TT ") }
        #expect(rows.count == 3, "\(stdout)")
        let (plain, plainOut) = try bench([], in: dir)
        #expect(plain.gemmShapes == nil && !plainOut.contains("GEMM shapes"))
    }

    @Test func refusedWithTrainingBatchOrNegative() throws {
        let uso = MPIRun.executable("uso")
        let batch = try MPIRun.runWithoutMPI(uso, ["bench", "step", "--preset", "tiny", "--training-batch", "2", "--gemm-shapes", "3"])
        #expect(batch.exitCode != 0 && batch.stderr.contains("--gemm-shapes times one sample's step"), "\(batch.transcript)")
        let negative = try MPIRun.runWithoutMPI(uso, ["bench", "step", "--preset", "tiny", "--gemm-shapes=-1"])
        #expect(negative.exitCode != 0 && negative.stderr.contains("--gemm-shapes must be 0 or more"), "\(negative.transcript)")
    }
}
