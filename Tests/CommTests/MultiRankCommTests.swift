import Foundation
import Testing
import USOTestSupport

/// Every collective and message kind at 1, 2, 3 and 4 ranks: runs `uso-comm-check` under
/// mpirun (one job at a time, with a timeout) and checks every rank's scenario results.
@Suite(.serialized)
struct MultiRankCommTests {
    /// Scenarios that must be present at world size `n` (the rest are checked for equality across ranks).
    static func required(_ n: Int) -> [String] {
        [
            "init.thread-level", "identity", "barrier",
            "broadcast.float32.len0.root\(n - 1)", "broadcast.int64.len1023.root0", "broadcast.float64.scalar.root\(n - 1)",
            "allreduce.float32.sum.inplace.len65537", "allreduce.float64.max.copy.len7", "allreduce.int32.min.inplace.len0",
            "allreduce.int64.sum.copy.len1", "allreduce.int64.max.scalar",
            "allgather.scalar.float64", "allgather.varlen.int64", "allgather.bytes.oddlen", "gather.varlen.float32.root\(n - 1)",
            "send.blocking.each-root-to-all", "send.any-source.any-tag", "send.tag-selection.zero-length",
            "send.receive-into-buffer", "nonblocking.ring.large", "nonblocking.iallreduce.buckets",
            "nonblocking.ibarrier.test", "nonblocking.test-before-send", "nonblocking.waitany", "probe.envelope-without-receiving",
            "deadline.irecv.then-late-match", "deadline.waitany",
            "error.invalid-rank.returned", "error.truncation.returned", "error.count-beyond-int32",
            "reduce-scatter.float32.uneven", "reduce-scatter.float32.empty-first", "reduce-scatter.float32.long",
            "allgather-parts.float64.one", "allgather-parts.float64.long", "reduce-scatter.error.parts-mismatch",
            "split.parity", "split.undefined-color",
            "layout.reward0.tail", "layout.reward\(n - 1).tail", "layout.reward\(n - 1).spread",
            "layout.error.reward-1", "layout.error.reward\(n)", "layout.error.reward\(n + 1)",
        ]
    }

    @Test("every Comm operation", arguments: [1, 2, 3, 4])
    func everyOperation(ranks n: Int) throws {
        let out = try TemporaryDirectory(prefix: "uso-comm-check")
        defer { out.remove() }
        let job = try MPIRun.run(np: n, MPIRun.executable("uso-comm-check"), [out.path], timeout: 180)
        #expect(job.exitCode == 0, "\(job.transcript)")

        let perRank = try ScenarioResult.read(from: out.url, ranks: n)
        let names0 = perRank[0].map(\.scenario)
        #expect(names0.count >= 150, "only \(names0.count) scenarios ran")
        for r in 0..<n {
            #expect(perRank[r].map(\.scenario) == names0, "rank \(r) ran other scenarios than rank 0")
            #expect(perRank[r].allSatisfy { $0.rank == r && $0.size == n })
            for failure in perRank[r] where !failure.ok {
                Issue.record("np=\(n) rank \(r) \(failure.scenario): \(failure.detail)")
            }
        }
        let missing = Self.required(n).filter { !names0.contains($0) }
        #expect(missing.isEmpty, "scenarios missing at np=\(n): \(missing)")
    }
}
