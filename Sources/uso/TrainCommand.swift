import ArgumentParser
import Comm
import Config
import Foundation
import Reward
import Training

/// `uso train`: the main job, started on every rank by mpirun.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a stage (autoencoder, base, csd, uso) data-parallel over the trainer ranks.",
        discussion: """
            Every trainer holds a replica, reads its slice of each global batch (the coordinator's \
            shard plan), accumulates gradients over micro-batches, and sums them with the other \
            trainers in buckets that start during the last backward; then all take the same AdamW \
            step. The coordinator writes RUN/metrics.jsonl, a progress line, and RUN/weights/ \
            (safetensors: base.safetensors, dit_lora.safetensors, projector.safetensors, ...) at \
            the end and every run.save_every steps. See --help-config for every key.

            Examples:
              Cluster/launch-local.sh -np 2 uso train --config Cluster/configs/small-uso.toml
              Cluster/launch-local.sh -np 2 uso train --resume runs/uso --steps 2000
              uso train --help-config
            """
    )

    @Option(help: ArgumentHelp("The run config (TOML).", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("Continue the run in this folder from its saved state (reads its config.toml).", valueName: "run"))
    var resume: String?

    @Option(help: "Override run.steps (for example to extend a resumed run).")
    var steps: Int?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a config key: --set run.steps=100 (repeatable).", valueName: "key=value"))
    var overrides: [String] = []

    @Option(help: "Progress display: auto (a redrawn line on a terminal, else a line every 5%), bar, lines or none.")
    var progress: String = "auto"

    @Flag(help: "Print every config key with its type, default, allowed values and meaning, and exit.")
    var helpConfig = false

    @Flag(help: "With --help-config: print the keys as a Markdown table (Cluster/configs/README.md holds it).")
    var markdown = false

    func validate() throws {
        if helpConfig { return }
        guard (config == nil) != (resume == nil) else { throw ValidationError("give exactly one of --config FILE or --resume RUN") }
        if let steps, steps < 1 { throw ValidationError("--steps must be positive") }
        for o in overrides where !o.contains("=") { throw ValidationError("--set \(o): write key=value, for example --set run.steps=100") }
        guard MetricsWriter.ProgressStyle(rawValue: progress) != nil else { throw ValidationError("--progress must be auto, bar, lines or none") }
    }

    func run() throws {
        if helpConfig {
            if markdown {
                print(RunConfig.keys.renderedAsMarkdown())
            } else {
                print("Keys of a run config (TOML tables [cluster], [run], [data], [optim], [flow], [sync], [csd], [reward]):\n")
                print(RunConfig.keys.renderedAsText())
            }
            return
        }
        let configPath = config ?? ((resume! as NSString).appendingPathComponent("config.toml"))
        try MPIJob.run("train") { runtime in
            // A resumed run re-applies the overrides it was started with, then the new ones.
            var all = overrides
            if let resume {
                let saved = (resume as NSString).appendingPathComponent("overrides.txt")
                if let text = try? String(contentsOfFile: saved, encoding: .utf8) {
                    all = text.split(separator: "\n").map(String.init).filter { !$0.isEmpty } + overrides
                }
            }
            let pairs = all.map { o -> (String, String) in
                let i = o.firstIndex(of: "=")!
                return (String(o[..<i]).trimmingCharacters(in: .whitespaces), String(o[o.index(after: i)...]).trimmingCharacters(in: .whitespaces))
            }
            var runConfig = try RunConfig.load(path: configPath, overrides: pairs)
            if let resume { runConfig.run.out = resume }
            if let steps { runConfig.run.steps = steps }
            let roles = try RoleCommunicators(world: runtime.world, rewardRanks: runConfig.cluster.rewardRanks,
                                              placement: runConfig.cluster.placement == .tail ? .tail : .spread)
            if let trainers = roles.trainers {
                let trainer = try Trainer(config: runConfig, trainers: trainers, world: runtime.world, layout: roles.layout,
                                          resume: resume != nil, progress: MetricsWriter.ProgressStyle(rawValue: progress)!)
                if trainers.rank == 0 && resume == nil {
                    let text = try String(contentsOfFile: configPath, encoding: .utf8)
                    try text.write(toFile: (trainer.runFolder as NSString).appendingPathComponent("config.toml"), atomically: true, encoding: .utf8)
                    try (overrides.joined(separator: "\n") + "\n").write(toFile: (trainer.runFolder as NSString).appendingPathComponent("overrides.txt"),
                                                                        atomically: true, encoding: .utf8)
                }
                try trainer.run()
                if trainers.rank == 0 {
                    print("uso train: wrote \(trainer.runFolder)/weights, \(trainer.runFolder)/metrics.jsonl, \(trainer.runFolder)/state")
                }
            } else if let rewards = roles.rewards {
                if runConfig.reward.mode == .dedicated {
                    let server = RewardServer(world: runtime.world, trainers: roles.layout.trainerRanks.count,
                                              reward: StyleReward(csd: try Trainer.loadCSD(runConfig)))
                    let stats = try server.serve()
                    let all = try rewards.gather([Double(stats.requests), stats.busySeconds, stats.wallSeconds], root: 0)
                    if let all {
                        let line = all.enumerated().map { k, v in
                            String(format: "reward rank %d: %d requests, busy %.1f%% of %.1f s", k, Int(v[0]), 100 * v[1] / max(v[2], 1e-9), v[2])
                        }.joined(separator: "; ")
                        print("uso train: \(line)")
                    }
                } else if rewards.rank == 0 {
                    print("uso train: \(roles.layout.rewardRanks.count) reward rank(s) idle: reward.mode is \(runConfig.reward.mode.rawValue)")
                }
            }
            try runtime.world.barrier()
        }
    }
}
