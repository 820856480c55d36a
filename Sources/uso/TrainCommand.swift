import ArgumentParser
import Comm
import Config
import Foundation
import Training

/// `uso train`: the main job, started on every rank by mpirun (the work is `TrainJob`).
extension MetricsWriter.ProgressStyle: ExpressibleByArgument {}

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
    var progress: MetricsWriter.ProgressStyle = .auto

    @Flag(help: "Print every config key with its type, default, allowed values and meaning, and exit.")
    var helpConfig = false

    @Flag(help: "With --help-config: print the keys as a Markdown table (Cluster/configs/README.md holds it).")
    var markdown = false

    func validate() throws {
        if helpConfig { return }
        guard (config == nil) != (resume == nil) else { throw ValidationError("give exactly one of --config FILE or --resume RUN") }
        if let steps, steps < 1 { throw ValidationError("--steps must be positive") }
        for o in overrides where !o.contains("=") { throw ValidationError("--set \(o): write key=value, for example --set run.steps=100") }
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
        let job = TrainJob(configPath: config, resume: resume, steps: steps, overrides: overrides, progress: progress)
        try MPIJob.run("train") { runtime in try job.run(world: runtime.world) }
    }
}
