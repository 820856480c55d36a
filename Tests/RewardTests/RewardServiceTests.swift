import Foundation
import Testing
import USOTestSupport

/// The reward service at 1 trainer : 1 reward rank, 3 : 1 and 2 : 2, with random delays on
/// the reward side: no reply lost, duplicated or applied to another request.
@Suite(.serialized)
struct RewardServiceTests {
    @Test func stressWithDelays() throws {
        var answered = 0, missed = 0
        for (ranks, rewardRanks) in [(2, 1), (4, 1), (4, 2)] {
            let (a, m) = try stress(ranks: ranks, rewardRanks: rewardRanks)
            answered += a
            missed += m
        }
        // Both paths ran: replies in time, and replies past their deadline (dropped on arrival).
        #expect(answered > 0 && missed > 0, "answered \(answered), missed \(missed)")
    }

    func stress(ranks: Int, rewardRanks: Int) throws -> (Int, Int) {
        let out = try TemporaryDirectory(prefix: "uso-reward-check")
        defer { out.remove() }
        let job = try MPIRun.run(np: ranks, MPIRun.executable("uso-reward-check"), [String(rewardRanks), out.path], timeout: 180)
        #expect(job.exitCode == 0, "\(job.transcript)")
        let results = try ScenarioResult.read(from: out.url, ranks: ranks).flatMap { $0 }
        for r in results where !r.ok { Issue.record("\(ranks - rewardRanks):\(rewardRanks) rank \(r.rank) \(r.scenario): \(r.detail)") }
        let names = Set(results.map(\.scenario))
        #expect(names.isSuperset(of: ["client.none-misapplied", "client.none-lost", "client.late-dropped",
                                      "totals.every-request-served-once", "server.busy-accounted"]), "\(names)")
        #expect(results.filter { $0.scenario == "client.none-misapplied" }.count == ranks - rewardRanks)
        let counts = results.filter { $0.scenario == "client.counts" }.map { $0.detail.split(separator: " ").compactMap { Int($0) } }
        #expect(counts.count == ranks - rewardRanks && counts.allSatisfy { $0.count == 3 && $0[0] == 24 })
        return (counts.reduce(0) { $0 + $1[1] }, counts.reduce(0) { $0 + $1[2] })
    }
}
