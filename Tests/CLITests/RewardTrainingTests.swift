import Foundation
import Testing
import USOTestSupport

/// Stage uso with the style reward: dedicated reward ranks give the same losses and rewards
/// as computing them on the trainers, and every rewarded sample was served once.
@Suite(.serialized)
struct RewardTrainingTests {
    let uso = MPIRun.executable("uso")

    func metrics(_ run: String) throws -> [[String: Any]] {
        try String(contentsOfFile: "\(run)/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }

    /// 2 trainers with a dedicated reward rank against 1 trainer computing the reward itself:
    /// the same losses, rewards, gradient norms before clipping and final LoRA and projector
    /// weights. The uso runs start from a briefly trained base (a random base's final layer is
    /// zero, and no flow or reward gradient would reach the adapters through it).
    @Test func dedicatedEqualsColocated() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", "\(dir.path)/data", "--resolution", "32", "--triplets", "48",
                                                  "--pairs", "16", "--style-images", "32", "--shard-size", "16"])
        #expect(made.exitCode == 0, "\(made.transcript)")
        let csd = try MPIRun.run(np: 2, uso, ["train", "--config", "Cluster/configs/tiny-csd.toml".repoPath, "--progress", "none",
                                              "--set", "run.out=\(dir.path)/csd", "--set", "data.path=\(dir.path)/data/styles",
                                              "--set", "run.steps=3"])
        #expect(csd.exitCode == 0, "\(csd.transcript)")
        let base = try MPIRun.run(np: 2, uso, ["train", "--config", "Cluster/configs/tiny-base.toml".repoPath, "--progress", "none",
                                               "--set", "run.out=\(dir.path)/base", "--set", "data.path=\(dir.path)/data/pairs",
                                               "--set", "run.init_weights=random", "--set", "run.steps=4", "--set", "data.global_batch=4"])
        try #require(base.exitCode == 0, "\(base.transcript)")
        func run(_ name: String, np: Int, mode: String, rewardRanks: Int) throws -> MPIRun.Outcome {
            try MPIRun.run(np: np, uso, ["train", "--config", "Cluster/configs/tiny-uso-asr.toml".repoPath, "--progress", "none",
                                         "--set", "run.out=\(dir.path)/\(name)", "--set", "data.path=\(dir.path)/data/triplets",
                                         "--set", "run.init_weights=\(dir.path)/base/weights", "--set", "run.steps=6",
                                         "--set", "reward.start_step=0", "--set", "optim.warmup_steps=0",
                                         "--set", "reward.mode=\(mode)", "--set", "cluster.reward_ranks=\(rewardRanks)",
                                         "--set", "reward.csd_weights=\(dir.path)/csd/weights", "--set", "data.global_batch=4"], timeout: 240)
        }
        let dedicated = try run("dedicated", np: 3, mode: "dedicated", rewardRanks: 1)
        #expect(dedicated.exitCode == 0, "\(dedicated.transcript)")
        let colocated = try run("colocated", np: 1, mode: "colocated", rewardRanks: 0)
        #expect(colocated.exitCode == 0, "\(colocated.transcript)")
        let d = try metrics("\(dir.path)/dedicated"), c = try metrics("\(dir.path)/colocated")
        #expect(d.count == 6 && c.count == 6)
        var rewarded = 0
        for (a, b) in zip(d, c) {
            #expect((a["reward_samples"] as! Int) == (b["reward_samples"] as! Int))
            #expect((a["reward_misses"] as! Int) == 0)
            if let ra = a["reward"] as? Double, let rb = b["reward"] as? Double { #expect(abs(ra - rb) <= 1e-5, "reward \(ra) vs \(rb)") }
            rewarded += a["reward_samples"] as! Int
        }
        #expect(rewarded > 0, "no sample got a reward")
        let files = ["dit_lora.safetensors", "projector.safetensors"]
        let rd = try TrainEquivalenceTests.record("\(dir.path)/dedicated", files: files)
        let rc = try TrainEquivalenceTests.record("\(dir.path)/colocated", files: files)
        #expect(rc.norms.allSatisfy { $0 > 1e-6 }, "every step has a gradient: \(rc.norms)")
        TrainEquivalenceTests.expectSame(rc, rd, "2 trainers + a dedicated reward rank vs 1 trainer, colocated reward")
        #expect(dedicated.stdout.contains("reward rank 0: \(rewarded) requests"), "\(dedicated.stdout)")
    }

    @Test func dedicatedWithoutRewardRanksIsRejected() throws {
        let job = try MPIRun.run(np: 2, uso, ["train", "--config", "Cluster/configs/tiny-uso-asr.toml".repoPath,
                                              "--set", "cluster.reward_ranks=0"])
        #expect(job.exitCode != 0)
        #expect(job.stderr.contains("reward.mode = \"dedicated\" needs cluster.reward_ranks > 0 (it is 0)"), "\(job.transcript)")
    }
}

extension String {
    /// A path relative to the repository root.
    var repoPath: String { FakeHosts.repositoryRoot.appendingPathComponent(self).path }
}
