import ArgumentParser
import Bench
import Diagnostics
import Foundation
import Config
import USOModel

/// `uso bench ckpt`: checkpoint save and merge throughput at flux-dev's trainable size.
struct BenchCkptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ckpt",
        abstract: "Checkpoint save throughput per rank against a plain write of the same bytes, and merge time, whole and ZeRO-1 sharded.",
        discussion: """
            Run under mpirun (2 ranks on these machines). Allocates the stage-uso trainable set of \
            the preset (flux-dev: 239 M LoRA + 10.8 M projector parameters; with AdamW's moments about \
            3 GB) without the base model or any compute. Per round, every rank writes a plain file of \
            exactly its part's bytes (one sequential write, fsync), then saves its part of a \
            checkpoint (the in-memory copy a training step blocks on, then the files, each synced); \
            the coordinator completes it. The ratio is the plain write's time over the save's, per \
            rank, medians over the rounds. Then the coordinator merges the last checkpoint with \
            uso ckpt merge in a child process and reports its time and peak memory. Per rank it \
            also shows AdamW's state and the process's peak resident memory so far (run one mode \
            alone, --modes whole or sharded, to compare the modes' peaks).

            The folder must be on the disk checkpoints go to, with room for about twice the state.

            Example:
              Cluster/launch-local.sh -np 2 uso bench ckpt --folder runs/bench-ckpt
            """
    )

    @Option(help: ArgumentHelp("Where to write (created; emptied of what the benchmark wrote).", valueName: "dir"))
    var folder: String = "runs/bench-ckpt"

    @Option(help: "flux-dev, small or tiny.")
    var preset: ModelPreset = .fluxDev

    @Option(help: "Rounds per mode (medians are reported).")
    var rounds: Int = 3

    @Option(help: "whole, sharded or both.")
    var modes: String = "both"

    @Flag(inversion: .prefixedNo, help: "Merge the last checkpoint of each mode with uso ckpt merge and report it.")
    var merge = true

    @Option(help: ArgumentHelp("Keep the last whole checkpoint here (a flux-dev-shaped checkpoint for the exports).", valueName: "dir"))
    var keep: String?

    func validate() throws {
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        guard ["whole", "sharded", "both"].contains(modes) else { throw ValidationError("--modes: whole, sharded or both (got \(modes))") }
    }

    func run() throws {
        let executable = CommandLine.arguments[0].hasPrefix("/") ? CommandLine.arguments[0]
            : FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0]
        try MPIJob.run("bench ckpt") { runtime in
            let world = runtime.world
            if world.rank == 0 { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
            try world.barrier()
            let list = modes == "both" ? [false, true] : [modes == "sharded"]
            let rows = try CheckpointBenchmark(world: world, preset: preset, folder: folder, rounds: rounds, executable: executable, keep: keep, merge: merge)
                .run(modes: list)
            guard world.rank == 0 else { return }
            print("uso bench ckpt: preset \(preset.rawValue) trainable set (stage uso), \(world.size) rank(s), \(rounds) round(s), in \(folder)")
            var table: [[String]] = []
            for r in rows {
                for k in 0..<r.trainers {
                    let gbps = { (b: Int, s: Double) in b > 0 ? String(format: "%.2f", Double(b) / s / 1e9) : "-" }
                    table.append([r.mode, String(k), String(format: "%.2f", Double(r.bytes[k]) / 1e9),
                                  r.bytes[k] > 0 ? String(format: "%.3f", r.copySeconds[k]) : "-",
                                  r.bytes[k] > 0 ? String(format: "%.2f", r.saveSeconds[k]) : "-", gbps(r.bytes[k], r.saveSeconds[k]),
                                  gbps(r.bytes[k], r.plainSeconds[k]),
                                  r.bytes[k] > 0 ? String(format: "%.2f", r.plainSeconds[k] / r.saveSeconds[k]) : "-",
                                  String(format: "%.2f", Double(r.optimizerStateBytes[k]) / 1e9), String(format: "%.2f", Double(r.peakResidentBytes[k]) / 1e9)])
                }
            }
            print(TextTable(header: ["mode", "rank", "GB", "copy s", "save s", "save GB/s", "plain GB/s", "save / plain", "AdamW GB", "peak RSS GB"], rows: table)
                .lines().joined(separator: "\n"))
            for r in rows where merge {
                print(String(format: "merge (%@): %.2f GB in %.2f s (%.2f GB/s), peak memory %.0f MB (largest tensor %.0f MB)", r.mode,
                             Double(r.mergeBytes) / 1e9, r.mergeSeconds, Double(r.mergeBytes) / r.mergeSeconds / 1e9,
                             Double(r.mergePeakBytes) / 1e6, Double(r.largestTensorBytes) / 1e6))
            }
            if let keep { print("uso bench ckpt: kept the last whole checkpoint in \(keep)") }
        }
    }
}
