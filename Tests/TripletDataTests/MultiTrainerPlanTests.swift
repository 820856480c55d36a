import Foundation
import Testing
import TripletData
import USOTestSupport

/// The plan and loader under mpirun at 1, 2, 3 and 4 trainers: every sample exactly once
/// per epoch, in the same global order, with the right pixels.
@Suite(.serialized)
struct MultiTrainerPlanTests {
    @Test("exactly once per epoch under mpirun", arguments: [1, 2, 3, 4])
    func exactlyOncePerEpoch(trainers n: Int) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let manifest = try ShardPlanTests.makeSet(dir, count: 53, shardSize: 16)
        let out = try TemporaryDirectory(prefix: "uso-data-check")
        defer { out.remove() }
        let job = try MPIRun.run(np: n, MPIRun.executable("uso-data-check"), [manifest, out.path], timeout: 120)
        #expect(job.exitCode == 0, "\(job.transcript)")
        let results = try ScenarioResult.read(from: out.url, ranks: n)
        for r in results.flatMap({ $0 }) where !r.ok { Issue.record("np=\(n) rank \(r.rank) \(r.scenario): \(r.detail)") }
        let names = Set(results[0].map(\.scenario))
        #expect(names.isSuperset(of: ["epoch0.exactly-once", "epoch1.exactly-once", "epoch0.global-order", "epoch1.global-order", "pixels"]),
                "\(names)")
        for r in 1..<n { #expect(Set(results[r].map(\.scenario)) == ["pixels", "wait-accounted"]) }
    }
}
