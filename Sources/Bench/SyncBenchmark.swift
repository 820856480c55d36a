import Comm
import Config
import Foundation
import Training

/// `uso bench sync`: training steps with gradient sync bucketed and overlapped with the
/// last backward, after the backward in the same buckets, as one allreduce of everything,
/// and not at all; and the same steps on one trainer alone (weak scaling: the per-trainer
/// batch is the same). Variants alternate in rounds inside one mpirun job, so the machine's
/// mood hits them alike. Every rank must call `run`.
public struct SyncBenchmark {
    public struct Row: Codable, Sendable {
        public var variant: String
        public var trainers: Int
        public var stepSeconds: Double
        public var syncWaitSeconds: Double
        public var syncFraction: Double
        public var buckets: Int
    }

    public let world: Communicator
    public let base: RunConfig
    public let perTrainerBatch: Int
    public let steps: Int
    public let rounds: Int

    public init(world: Communicator, base: RunConfig, perTrainerBatch: Int, steps: Int, rounds: Int) {
        self.world = world; self.base = base; self.perTrainerBatch = perTrainerBatch; self.steps = steps; self.rounds = rounds
    }

    /// One variant's median step and sync wait; `strategy` nil: no exchange at all.
    func measure(_ comm: Communicator, strategy: SyncStrategy?, progressPoints: Bool = true) throws -> (Double, Double, Int) {
        var c = base
        c.sync.strategy = strategy ?? .overlap
        c.run.steps = steps
        c.run.checksumEvery = 0
        c.run.out = NSTemporaryDirectory() + "uso-bench-sync-\(getpid())"
        c.data.globalBatch = perTrainerBatch * comm.size
        let trainer = try Trainer(config: c, trainers: comm, quiet: true, progress: .none, exchangeGradients: strategy != nil)
        trainer.sync.testsAtProgressPoints = progressPoints
        let history = try trainer.run()
        // The first step warms caches and the loader: leave it out.
        let kept = history.dropFirst()
        let step = median(kept.map(\.stepSeconds))
        let wait = median(kept.map(\.time.syncWait))
        if comm.rank == 0 { try? FileManager.default.removeItem(atPath: c.run.out) }
        return (step, wait, trainer.sync.buckets.count)
    }

    public func run() throws -> [Row] {
        let alone = try world.split(color: world.rank == 0 ? 0 : nil, key: 0, name: "one-trainer")
        var samples: [String: [(Double, Double, Int)]] = [:]
        // "overlap, milestones only": requests tested only as each block's gradients become final,
        // not between its products (what the overlap did before progress points).
        let variants: [(String, SyncStrategy?, Bool)] = [("overlap", .overlap, true), ("overlap, milestones only", .overlap, false),
                                                                 ("after_backward", .afterBackward, true), ("single", .single, true),
                                                                 ("none", nil, true)]
        for _ in 0..<rounds {
            for (name, strategy, points) in variants {
                samples[name, default: []].append(try measure(world, strategy: strategy, progressPoints: points))
            }
            if let alone { samples["one trainer", default: []].append(try measure(alone, strategy: nil)) }
            try world.barrier()
        }
        var rows: [Row] = []
        for name in variants.map(\.0) + (world.rank == 0 ? ["one trainer"] : []) {
            guard let s = samples[name] else { continue }
            let step = median(s.map(\.0)), wait = median(s.map(\.1))
            rows.append(Row(variant: name, trainers: name == "one trainer" ? 1 : world.size, stepSeconds: step, syncWaitSeconds: wait,
                            syncFraction: wait / step, buckets: s[0].2))
        }
        return rows
    }
}
