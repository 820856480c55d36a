import Foundation
import Testing
import USOTestSupport

/// Launches across two hosts (network namespaces with TCP between them, made by
/// Cluster/fake-hosts.sh): the spread layout sees the hosts, and the collectives work
/// over TCP at an odd rank count. Needs root and iproute2, which CI machines have.
@Suite(.serialized, .enabled(if: FakeHosts.available, "needs root and network namespaces"))
struct MultiHostTests {
    @Test func doctorSpreadsRewardRanksOverHosts() throws {
        let hostArgs = try FakeHosts.up(2, slots: 2)
        defer { FakeHosts.down() }
        let job = try MPIRun.run(np: 4, MPIRun.executable("uso"), ["doctor", "--reward-ranks", "2", "--placement", "spread"],
                                 timeout: 60, mpirunArguments: hostArgs)
        #expect(job.exitCode == 0, "\(job.transcript)")
        let rows = job.stdout.split(separator: "\n").filter { $0.contains("MPI_THREAD_FUNNELED") && !$0.contains("requested") }
            .map { $0.components(separatedBy: "  ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        try #require(rows.count == 4, "\(job.transcript)")
        #expect(rows.map { $0[2] } == ["usoh1", "usoh1", "usoh2", "usoh2"], "\(rows)")
        #expect(rows.map { $0[1] } == ["coordinator", "reward 0", "trainer 1", "reward 1"], "\(rows)")
        #expect(job.stdout.contains("trainers [0, 2] (coordinator 0), reward [1, 3] (spread)"))
    }

    @Test func everyCommOperationOverTCPAtThreeRanks() throws {
        let hostArgs = try FakeHosts.up(2, slots: 2)
        defer { FakeHosts.down() }
        let out = try TemporaryDirectory(prefix: "uso-comm-check")
        defer { out.remove() }
        let job = try MPIRun.run(np: 3, MPIRun.executable("uso-comm-check"), [out.path], timeout: 180,
                                 mpirunArguments: hostArgs)
        #expect(job.exitCode == 0, "\(job.transcript)")
        for (r, results) in try ScenarioResult.read(from: out.url, ranks: 3).enumerated() {
            #expect(results.count >= 150, "rank \(r): \(results.count) results")
            for failed in results where !failed.ok { Issue.record("rank \(r) \(failed.scenario): \(failed.detail)") }
        }
    }
}
