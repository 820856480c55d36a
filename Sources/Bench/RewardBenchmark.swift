import Comm
import Config
import Foundation
import Reward
import Training

/// `uso bench reward`: stage uso's step with the style reward on a dedicated reward rank,
/// without the reward, and with the reward computed by the trainer itself; variants
/// alternate in rounds in one job. World rank 0 trains; the last rank serves rewards in
/// the dedicated variant and waits otherwise.
public struct RewardBenchmark {
    public struct Row: Codable, Sendable {
        public var variant: String
        public var stepSeconds: Double
        public var rewardWaitSeconds: Double
        public var rewardSamplesPerStep: Double
        public var rewardRankBusy: Double?
    }

    public let world: Communicator
    public let base: RunConfig
    public let steps: Int
    public let rounds: Int

    public init(world: Communicator, base: RunConfig, steps: Int, rounds: Int) {
        self.world = world; self.base = base; self.steps = steps; self.rounds = rounds
    }

    public func run() throws -> [Row] {
        precondition(world.size >= 2, "uso bench reward needs 2 ranks: a trainer and a reward rank")
        let layout = try RankLayout(worldSize: world.size, rewardRanks: world.size - 1, placement: .tail,
                                    hosts: Array(repeating: "local", count: world.size))
        let trainerComm = try world.split(color: world.rank == 0 ? 0 : nil, key: 0, name: "bench-trainer")
        var samples: [String: [(Double, Double, Double, Double?)]] = [:]
        for _ in 0..<rounds {
            for mode in [RewardSection.Mode.dedicated, .off, .colocated] {
                var c = base
                c.reward.mode = mode
                c.run.steps = steps
                c.run.checksumEvery = 0
                c.run.out = NSTemporaryDirectory() + "uso-bench-reward-\(getpid())"
                if let trainerComm {
                    let trainer = try Trainer(config: c, trainers: trainerComm, world: world, layout: layout, quiet: true, progress: .none)
                    let h = Array(try trainer.run().dropFirst())
                    var busy: Double? = nil
                    if mode == .dedicated {
                        // Every reward rank reports its busy fraction.
                        let stats = try (1..<world.size).map { try world.receive(Double.self, from: .rank($0), tag: .value(77)).values }
                        busy = stats.map { $0[0] / max($0[1], 1e-9) }.reduce(0, +) / Double(stats.count)
                    }
                    samples[mode.rawValue, default: []].append((median(h.map(\.stepSeconds)), median(h.map(\.time.rewardWait)),
                                                                Double(h.map(\.rewardSamples).reduce(0, +)) / Double(h.count), busy))
                    try? FileManager.default.removeItem(atPath: c.run.out)
                } else if mode == .dedicated {
                    let server = RewardServer(world: world, trainers: 1, reward: StyleReward(csd: try Trainer.loadCSD(c)))
                    let stats = try server.serve()
                    try world.send([stats.busySeconds, stats.wallSeconds], to: 0, tag: 77)
                }
                try world.barrier()
            }
        }
        guard world.rank == 0 else { return [] }
        return ["dedicated", "off", "colocated"].map { name in
            let s = samples[name]!
            let busy = s.compactMap(\.3)
            return Row(variant: name, stepSeconds: median(s.map(\.0)), rewardWaitSeconds: median(s.map(\.1)),
                       rewardSamplesPerStep: median(s.map(\.2)), rewardRankBusy: busy.isEmpty ? nil : median(busy))
        }
    }
}
