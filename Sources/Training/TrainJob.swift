import Comm
import Config
import Foundation
import Reward

/// `uso train` as a library call, on every rank of the world: the run's config (a file, or
/// on `--resume` the run's own config.toml with the overrides it was started with, then the
/// new ones), the split into trainers and reward ranks, the trainers' run and the reward
/// ranks' serve loop, and what each prints. The command only parses and calls `run`.
public struct TrainJob {
    /// The config file (nil with `resume`: the run's config.toml).
    public var configPath: String?
    /// A run folder to continue from its saved state.
    public var resume: String?
    /// `--steps`: replaces run.steps (where training stops; a resume keeps the schedule's plan).
    public var steps: Int?
    /// `--set key=value` overrides, in order.
    public var overrides: [String] = []
    public var progress: MetricsWriter.ProgressStyle = .auto

    public init(configPath: String?, resume: String?, steps: Int?, overrides: [String], progress: MetricsWriter.ProgressStyle) {
        self.configPath = configPath; self.resume = resume; self.steps = steps; self.overrides = overrides; self.progress = progress
    }

    /// The files a run keeps of how it was started, so that a resume starts the same way.
    static let configFile = "config.toml", overridesFile = "overrides.txt"

    /// The config this job runs: the file, the saved and the new overrides, the resume
    /// folder and --steps applied. Every rank computes it the same way.
    public func runConfig() throws -> (config: RunConfig, path: String, overrides: [String]) {
        guard let path = configPath ?? resume.map({ ($0 as NSString).appendingPathComponent(Self.configFile) }) else {
            throw TrainingError("give a config file or a run to resume")
        }
        var all = overrides
        if let resume, let text = try? String(contentsOfFile: (resume as NSString).appendingPathComponent(Self.overridesFile), encoding: .utf8) {
            all = text.split(separator: "\n").map(String.init).filter { !$0.isEmpty } + overrides
        }
        let pairs = try RunConfig.overridePairs(all)
        var config = try RunConfig.load(path: path, overrides: pairs)
        if let resume { config.run.out = resume }
        if let steps { config.run.steps = steps }
        return (config, path, all)
    }

    /// Runs the job on this rank of `world`.
    public func run(world: Communicator) throws {
        let (config, path, allOverrides) = try runConfig()
        let roles = try RoleCommunicators(world: world, rewardRanks: config.cluster.rewardRanks,
                                          placement: config.cluster.placement.rankPlacement)
        // The flight recorder, on every rank, and the ranks' clocks measured against rank 0's.
        let layout = roles.layout
        let roleNames = (0..<world.size).map { r -> String in
            if let k = layout.trainerRanks.firstIndex(of: r) { return k == 0 ? "trainer 0, coordinator" : "trainer \(k)" }
            return "reward rank \(layout.rewardRanks.firstIndex(of: r) ?? 0)"
        }
        let runFolder = config.run.out.isEmpty ? "runs/\(config.run.stage.rawValue)" : config.run.out
        let diagnostics = try RunDiagnostics.start(config, runFolder: runFolder, world: world, roles: roleNames)
        do { try runRole(config, path: path, allOverrides: allOverrides, roles: roles, world: world, diagnostics: diagnostics) } catch {
            diagnostics.abandon()   // what this rank was doing when it failed, flushed
            throw error
        }
        try diagnostics.finish(world)
    }

    func runRole(_ config: RunConfig, path: String, allOverrides: [String], roles: RoleCommunicators, world: Communicator,
                 diagnostics: RunDiagnostics) throws {
        if let trainers = roles.trainers {
            let trainer = try Trainer(config: config, trainers: trainers, world: world, layout: roles.layout, resume: resume != nil,
                                      progress: progress)
            trainer.diagnostics = diagnostics
            let text = try String(contentsOfFile: path, encoding: .utf8)
            trainer.provenance = (text, allOverrides)
            if trainers.rank == 0 {
                // The run's config and every override so far (a resume's new ones added), so the next resume starts the same way.
                if resume == nil || !overrides.isEmpty {
                    if resume == nil { try text.write(toFile: (trainer.runFolder as NSString).appendingPathComponent(Self.configFile), atomically: true, encoding: .utf8) }
                    try (allOverrides.joined(separator: "\n") + "\n").write(toFile: (trainer.runFolder as NSString).appendingPathComponent(Self.overridesFile),
                                                                           atomically: true, encoding: .utf8)
                }
            }
            try trainer.run()
            if trainers.rank == 0 {
                let latest = trainer.checkpoints.latest().map { CheckpointFolder.name(step: $0) } ?? "none"
                print("uso train: wrote \(trainer.runFolder)/weights, \(trainer.runFolder)/metrics.jsonl, \(trainer.checkpoints.root) (latest \(latest))")
            }
        } else if let rewards = roles.rewards {
            try serveRewards(config, world: world, rewards: rewards, trainerCount: roles.layout.trainerRanks.count,
                             rewardRanks: roles.layout.rewardRanks.count)
        }
    }

    /// A reward rank's part: serve the trainers until they finish, then one line per reward rank.
    func serveRewards(_ config: RunConfig, world: Communicator, rewards: Communicator, trainerCount: Int, rewardRanks: Int) throws {
        guard config.reward.mode == .dedicated else {
            if rewards.rank == 0 { print("uso train: \(rewardRanks) reward rank(s) idle: reward.mode is \(config.reward.mode.rawValue)") }
            return
        }
        let server = RewardServer(world: world, trainers: trainerCount, reward: StyleReward(csd: try Trainer.loadCSD(config)))
        let stats = try server.serve()
        if let all = try rewards.gather([Double(stats.requests), stats.busySeconds, stats.wallSeconds], root: 0) {
            let line = all.enumerated().map { k, v in
                String(format: "reward rank %d: %d requests, busy %.1f%% of %.1f s", k, Int(v[0]), 100 * v[1] / max(v[2], 1e-9), v[2])
            }.joined(separator: "; ")
            print("uso train: \(line)")
        }
    }
}

extension ClusterConfig.Placement {
    /// The layout rule this config value names.
    public var rankPlacement: RankPlacement {
        switch self {
        case .tail: return .tail
        case .spread: return .spread
        case .ownHosts: return .ownHosts
        }
    }
}
