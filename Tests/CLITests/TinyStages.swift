import FlightRecorder
import Foundation
import Testing
import USOTestSupport

/// What several tests start from: a synthesised set with the reward stage's data, a CSD
/// model trained 3 steps and a briefly trained base (stage uso needs both), and a wait for a
/// rank of a running job to reach a step, read from its flight-recorder board.
enum TinyStages {
    /// `dir/data` (24 triplets, 16 pairs, 16 style images), `dir/csd/weights` and `dir/base/weights`.
    static func rewardReady(_ dir: TemporaryDirectory, baseSteps: Int = 3) throws {
        let uso = MPIRun.executable("uso")
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", "\(dir.path)/data", "--resolution", "32", "--triplets", "24",
                                                  "--pairs", "16", "--style-images", "16", "--shard-size", "16"])
        try #require(made.exitCode == 0, "\(made.transcript)")
        let csd = try MPIRun.run(np: 2, uso, ["train", "--config", "Cluster/configs/tiny-csd.toml".repoPath, "--progress", "none",
                                              "--set", "run.out=\(dir.path)/csd", "--set", "data.path=\(dir.path)/data/styles", "--set", "run.steps=3"])
        try #require(csd.exitCode == 0, "\(csd.transcript)")
        let base = try MPIRun.run(np: 2, uso, ["train", "--config", "Cluster/configs/tiny-base.toml".repoPath, "--progress", "none",
                                               "--set", "run.out=\(dir.path)/base", "--set", "data.path=\(dir.path)/data/pairs",
                                               "--set", "run.init_weights=random", "--set", "run.steps=\(baseSteps)"])
        try #require(base.exitCode == 0, "\(base.transcript)")
    }

    /// Rank `rank`'s board in `run` once its step is at least `step` (polled every `every`
    /// microseconds, `polls` times); nil if it never gets there.
    static func board(of run: String, rank: Int, atStep step: Int, polls: Int = 600, every: UInt32 = 50_000) -> SharedBoard.Snapshot? {
        let path = "\(run)/diag/live/" + SharedBoard.fileName(rank: rank)
        for _ in 0..<polls {
            if let b = SharedBoard.read(path), b.step >= step { return b }
            usleep(every)
        }
        return nil
    }
}
