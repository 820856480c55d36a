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

    /// Stage uso with a dedicated style reward across three hosts: two trainer hosts and a
    /// reward host (`cluster.placement = "tail"`, one rank per host), over TCP. Every step's
    /// loss, gradient norm and reward equal the same job on one host (shared memory) within
    /// 1e-5 relative, and the run's diagnostics name each rank's host.
    @Test func stageUsoAcrossThreeHostsEqualsOneHost() throws {
        let uso = MPIRun.executable("uso")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", "\(dir.path)/data", "--resolution", "32", "--triplets", "24",
                                                  "--pairs", "16", "--style-images", "16", "--shard-size", "16"])
        try #require(made.exitCode == 0, "\(made.transcript)")
        let csd = try MPIRun.run(np: 2, uso, ["train", "--config", "Cluster/configs/tiny-csd.toml".repoPath, "--progress", "none",
                                              "--set", "run.out=\(dir.path)/csd", "--set", "data.path=\(dir.path)/data/styles", "--set", "run.steps=3"])
        try #require(csd.exitCode == 0, "\(csd.transcript)")
        let base = try MPIRun.run(np: 2, uso, ["train", "--config", "Cluster/configs/tiny-base.toml".repoPath, "--progress", "none",
                                               "--set", "run.out=\(dir.path)/base", "--set", "data.path=\(dir.path)/data/pairs",
                                               "--set", "run.init_weights=random", "--set", "run.steps=4"])
        try #require(base.exitCode == 0, "\(base.transcript)")
        func train(_ name: String, _ hostArgs: [String]) throws -> [[String: Any]] {
            let job = try MPIRun.run(np: 3, uso, ["train", "--config", "Cluster/configs/tiny-uso-asr.toml".repoPath, "--progress", "none",
                                                  "--set", "run.out=\(dir.path)/\(name)", "--set", "data.path=\(dir.path)/data/triplets",
                                                  "--set", "run.init_weights=\(dir.path)/base/weights", "--set", "run.steps=6",
                                                  "--set", "reward.start_step=0", "--set", "reward.mode=dedicated", "--set", "cluster.reward_ranks=1",
                                                  "--set", "cluster.placement=tail", "--set", "reward.csd_weights=\(dir.path)/csd/weights"],
                                     timeout: 240, mpirunArguments: hostArgs)
            try #require(job.exitCode == 0, "\(job.transcript)")
            let text = try String(contentsOfFile: "\(dir.path)/\(name)/metrics.jsonl", encoding: .utf8)
            return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .filter { $0["loss"] != nil }
        }
        let one = try train("one-host", [])
        let hostArgs = try FakeHosts.up(3, slots: 1)
        defer { FakeHosts.down() }
        let three = try train("three-hosts", hostArgs)
        try #require(one.count == 6 && three.count == 6, "\(one.count) and \(three.count) steps")
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-5 * max(abs(a), abs(b), 1e-12) }
        for (a, b) in zip(one, three) {
            for key in ["loss", "grad_norm", "reward"] {
                let x = a[key] as? Double, y = b[key] as? Double
                #expect(x != nil && y != nil && close(x!, y!), "step \(a["step"] ?? "?") \(key): \(String(describing: x)) on one host, \(String(describing: y)) on three")
            }
        }
        #expect(three.contains { ($0["reward_samples"] as? Int ?? 0) > 0 }, "no rewarded sample")
        // The diagnostics name the hosts: rank r on usoh(r+1), the reward rank on the third.
        let clock = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir.path)/three-hosts/diag/clock.json"))) as? [String: Any])
        let ranks = clock["ranks"] as! [[String: Any]]
        #expect(ranks.map { $0["host"] as? String ?? "" } == ["usoh1", "usoh2", "usoh3"], "\(ranks)")
        #expect((ranks[2]["role"] as? String)?.hasPrefix("reward rank") == true, "\(ranks)")
        let trace = try MPIRun.runWithoutMPI(uso, ["diag", "timeline", "\(dir.path)/three-hosts", "--out", "\(dir.path)/trace.json"])
        #expect(trace.exitCode == 0, "\(trace.transcript)")
        let traceText = try String(contentsOfFile: "\(dir.path)/trace.json", encoding: .utf8)
        #expect(traceText.contains("rank 2 (reward rank 0) on usoh3") && traceText.contains("rank 0 (trainer 0, coordinator) on usoh1"), "host names missing from the trace")
    }
}
