import ArgumentParser
import Bench
import Foundation
import TripletData
import USOModel
import Config
import Diagnostics

/// `--stage base|uso|...` (parsed and checked by ArgumentParser; commands narrow it further).
extension Stage: ExpressibleByArgument {}

/// The checks of a `--preset` for a benchmark that trains, and of a diffusion `--stage`.
func requireTrainable(_ preset: ModelPreset) throws {
    guard ModelPreset.trainable.contains(preset) else {
        throw ValidationError("--preset \(preset.rawValue) is too large to run here; use \(ModelPreset.trainable.map(\.rawValue).joined(separator: " or "))")
    }
}

func requireDiffusion(_ stage: Stage) throws {
    guard stage.isDiffusion else { throw ValidationError("--stage must be uso or base (got \(stage.rawValue))") }
}

/// `uso bench`: measurements of this machine and this code, for the README's Performance section.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (build with -c release; run under mpirun).",
        discussion: """
            Each benchmark measures its alternatives interleaved in one run and reports ratios, \
            because these machines are shared and noisy: compare within a run, not across runs.
            """,
        subcommands: [BenchAllreduceCommand.self, BenchStepCommand.self, BenchLoaderCommand.self, BenchSyncCommand.self, BenchRewardCommand.self, BenchCkptCommand.self, BenchDiagCommand.self]
    )
}

/// `uso bench step`: the generator's forward and backward per sample against cblas_sgemm.
struct BenchStepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "Time one sample's forward and backward at a preset and compare with cblas_sgemm.",
        discussion: """
            Runs on one rank (no mpirun needed), one BLAS thread unless OPENBLAS_NUM_THREADS \
            says otherwise. Reports the achieved GFLOP/s of forward + backward, the rate of \
            cblas_sgemm on the model's own GEMM shapes measured interleaved in the same run, \
            their ratio, and where the time goes (from a separate profiled pass).

            --length-scale and --width-scale grow the sample's token counts and the DiT's width; \
            --scaling runs 1x, 2x and 4x of each and prints how time grows against FLOPs (attention's \
            quadratic part shows as time rising faster with length than with width). \
            --gemm-shapes N adds a table of the step's GEMM shapes, each call timed alone.

            Examples:
              OPENBLAS_NUM_THREADS=1 .build/release/uso bench step --preset small
              .build/release/uso bench step --preset small --stage base --iterations 50
              .build/release/uso bench step --preset small --length-scale 4
              .build/release/uso bench step --preset small --scaling
              .build/release/uso bench step --preset small --training-batch 4
              OPENBLAS_NUM_THREADS=1 .build/release/uso bench step --preset small --gemm-shapes 12
            """
    )

    @Option(help: "tiny or small.")
    var preset: ModelPreset = .small

    @Option(help: "uso (LoRA + projector trained) or base (every DiT weight trained).")
    var stage: Stage = .uso

    @Option(help: "Timed iterations.")
    var iterations: Int = 20

    @Option(help: "Multiply every token count of the sample (1, 2, 4 or 8).")
    var lengthScale: Int = 1

    @Option(help: "Multiply the DiT's width and heads (head dim fixed).")
    var widthScale: Int = 1

    @Flag(help: "Run tokens x1, x2, x4 and width x1, x2, x4 and print how the cost grows.")
    var scaling = false

    @Option(help: ArgumentHelp("Time whole stage-uso training steps of this many samples (forward, backward, AdamW) "
                               + "and print samples/s (what Scripts/bench/vs-torch.sh compares).", valueName: "N"))
    var trainingBatch: Int?

    @Option(help: ArgumentHelp("With --training-batch: samples packed into one forward and backward (1: one at a time; "
                               + "default: the whole batch).", valueName: "N"))
    var pack: Int?

    @Option(help: ArgumentHelp("Also time every GEMM call of the step alone and print the N shapes that take longest, "
                               + "with their calls, share and GFLOP/s (which products run below the machine's rate).",
                               valueName: "N"))
    var gemmShapes: Int = 0

    @Option(help: ArgumentHelp("Also write the result as JSON to this file.", valueName: "file"))
    var json: String?

    func validate() throws {
        try requireTrainable(preset)
        guard [1, 2, 4, 8].contains(lengthScale) else { throw ValidationError("--length-scale must be 1, 2, 4 or 8 (got \(lengthScale))") }
        guard (1...8).contains(widthScale) else { throw ValidationError("--width-scale must be 1 to 8 (got \(widthScale))") }
        if let trainingBatch, trainingBatch < 1 { throw ValidationError("--training-batch must be at least 1 (got \(trainingBatch))") }
        if let pack, pack < 1 { throw ValidationError("--pack must be at least 1 (got \(pack))") }
        if pack != nil && trainingBatch == nil { throw ValidationError("--pack goes with --training-batch") }
        try requireDiffusion(stage)
        guard iterations >= 1 else { throw ValidationError("--iterations must be at least 1") }
        guard gemmShapes >= 0 else { throw ValidationError("--gemm-shapes must be 0 or more (0: no shape table)") }
        if gemmShapes > 0 && (trainingBatch != nil || scaling) {
            throw ValidationError("--gemm-shapes times one sample's step: it does not go with --training-batch or --scaling")
        }
    }

    func run() throws {
        var options = StepBenchmark.Options(preset: preset)
        options.stage = stage
        options.iterations = iterations
        options.gemmShapes = gemmShapes
        #if DEBUG
        print("warning: this is a debug build; benchmark with `swift build -c release`")
        #endif
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        if let trainingBatch {
            let r = try StepBenchmark(options: options).runTraining(batch: trainingBatch, pack: pack ?? trainingBatch)
            print(String(format: "uso bench step --training-batch %d --pack %d: preset %@, %d joint tokens per sample, BLAS core %@, kernels %@",
                         r.batch, r.pack, preset.rawValue, r.jointTokens, r.blasCore, r.kernelTier))
            print(String(format: "training step %.2f ms, %.2f samples/s (%d trainable parameters), peak resident memory %.1f MiB",
                         r.stepSeconds * 1e3, r.samplesPerSecond, r.trainableParameters, Double(r.peakResidentBytes) / 1_048_576))
            if let json {
                try encoder.encode(r).write(to: URL(fileURLWithPath: json), options: .atomic)
                print("wrote \(json)")
            }
            return
        }
        if scaling {
            var results: [StepBenchmark.Result] = []
            for (length, width) in [(1, 1), (2, 1), (4, 1), (1, 2), (1, 4)] {
                options.lengthScale = length
                options.widthScale = width
                results.append(try StepBenchmark(options: options).run())
            }
            print(StepBenchmark.renderScaling(results))
            if let json {
                try encoder.encode(results).write(to: URL(fileURLWithPath: json), options: .atomic)
                print("wrote \(json)")
            }
            return
        }
        options.lengthScale = lengthScale
        options.widthScale = widthScale
        let result = try StepBenchmark(options: options).run()
        print(StepBenchmark.render(result))
        if let json {
            try encoder.encode(result).write(to: URL(fileURLWithPath: json), options: .atomic)
            print("wrote \(json)")
        }
    }
}

/// `uso bench loader`: the share of a training step spent waiting for data.
struct BenchLoaderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loader",
        abstract: "Measure how long training waits for data with the prefetching loader.",
        discussion: """
            Steps of --batch samples each: the loader prefetches on its own thread while the \
            main thread does a step's compute (frozen encoders, DiT forward and backward at the \
            preset). Reports the wait as a share of step time, beside the time the same steps \
            take to load with nothing to hide behind. The set's image size must be the preset's.

            Example:
              uso data synth --out data --resolution 64
              OPENBLAS_NUM_THREADS=1 .build/release/uso bench loader data/triplets --preset small
            """
    )

    @Argument(help: ArgumentHelp("A triplet set folder or its manifest.", valueName: "dir"))
    var path: String

    @Option(help: "tiny or small.")
    var preset: ModelPreset = .small

    @Option(help: "Samples per step.")
    var batch: Int = 4

    @Option(help: "Timed steps.")
    var steps: Int = 20

    func validate() throws {
        guard preset != .fluxDev else { throw ValidationError("--preset flux-dev is too large to run here") }
        guard batch >= 1, steps >= 1 else { throw ValidationError("--batch and --steps must be positive") }
    }

    func run() throws {
        let manifest = try SetLocation.set(under: path)
        let r = try LoaderBenchmark(manifestPath: manifest, preset: preset, globalBatch: batch, steps: steps).run()
        print("uso bench loader: preset \(preset.rawValue), \(r.samplesPerStep) samples per step, \(r.steps) steps")
        print(String(format: "step %.2f ms; waiting for data %.3f ms per step = %.2f%% of the step", r.stepSeconds * 1e3,
                     r.waitSeconds * 1e3, r.waitFraction * 100))
        print(String(format: "the same steps loaded with no compute to hide behind: %.2f ms per step (%.1f%% of a step)",
                     r.loadOnlySeconds * 1e3, r.loadOnlySeconds / r.stepSeconds * 100))
    }
}

/// `uso bench sync`: gradient sync strategies, and weak scaling.
struct BenchSyncCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Compare overlapped bucketed sync, sync after backward, one allreduce, and no sync; and weak scaling.",
        discussion: """
            Run under mpirun (2 ranks on these machines). Trains the stage for a few steps per \
            variant, alternating variants in rounds: bucketed allreduce overlapped with the last \
            backward, the same buckets after the backward, one allreduce of all gradients after \
            the backward, no sync, and the same per-trainer batch on one trainer alone. Reports the \
            median step time, the exposed sync wait and its share of the step, and the weak-scaling \
            ratio (overlapped step at N ranks over one trainer's step).

            Example:
              Cluster/launch-local.sh -np 2 uso bench sync --data data --stage base
            """
    )

    @Option(help: ArgumentHelp("A data folder with triplets/ and pairs/ at the preset's size.", valueName: "dir"))
    var data: String

    @Option(help: "base (every DiT weight: 17 MiB of gradients at small) or uso (LoRA and projector: 1.1 MiB).")
    var stage: Stage = .base

    @Option(help: "tiny or small.")
    var preset: ModelPreset = .small

    @Option(help: "Samples per trainer per step.")
    var batch: Int = 4

    @Option(help: "Steps per measurement (the first is left out).")
    var steps: Int = 6

    @Option(help: "Rounds over the variants.")
    var rounds: Int = 3

    @Option(help: "Bucket size in MiB.")
    var bucketMib: Double = 2

    func validate() throws {
        try requireDiffusion(stage)
        try requireTrainable(preset)
        guard batch >= 1, steps >= 2, rounds >= 1 else { throw ValidationError("--batch >= 1, --steps >= 2, --rounds >= 1") }
    }

    func run() throws {
        try MPIJob.run("bench sync") { runtime in
            var c = RunConfig()
            c.run.stage = stage
            c.run.preset = preset
            c.run.initWeights = "random"   // speed only: what the weights are does not matter
            c.data.path = (data as NSString).appendingPathComponent(stage == .base ? "pairs" : "triplets")
            c.sync.bucketMiB = bucketMib
            let world = runtime.world
            let rows = try SyncBenchmark(world: world, base: c, perTrainerBatch: batch, steps: steps, rounds: rounds).run()
            guard world.rank == 0 else { return }
            print("uso bench sync: stage \(stage), preset \(preset), \(world.size) ranks, \(batch) samples per trainer per step, "
                  + "\(rounds) rounds of \(steps) steps, buckets of \(bucketMib) MiB")
            let table = TextTable(header: ["variant", "trainers", "buckets", "step ms", "sync wait ms", "wait / step"], rows: rows.map { r in
                [r.variant, String(r.trainers), String(r.buckets), String(format: "%.1f", r.stepSeconds * 1e3),
                 String(format: "%.2f", r.syncWaitSeconds * 1e3), String(format: "%.1f%%", r.syncFraction * 100)]
            })
            print(table.lines().joined(separator: "\n"))
            if let overlap = rows.first(where: { $0.variant == "overlap" }), let one = rows.first(where: { $0.variant == "one trainer" }) {
                print(String(format: "weak scaling: step at %d ranks / step on one trainer = %.3f", world.size, overlap.stepSeconds / one.stepSeconds))
            }
        }
    }
}

/// `uso bench reward`: the cost of the style reward, dedicated, colocated and off.
struct BenchRewardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reward",
        abstract: "Step time of stage uso with the style reward on a reward rank, without it, and computed by the trainer.",
        discussion: """
            Run with 2 ranks: rank 0 trains, rank 1 serves rewards (dedicated) or waits. Variants \
            alternate in rounds. Reports the median step time of each, the trainer's time waiting \
            for rewards, the samples that got a reward per step, and the reward rank's busy \
            fraction. Needs a base run's weights and a csd run's weights.

            Example:
              Cluster/launch-local.sh -np 2 uso bench reward --data runs/demo/data/triplets \\
                  --weights runs/demo/base/weights --csd runs/demo/csd/weights
            """
    )

    @Option(help: ArgumentHelp("A triplet set at the preset's size.", valueName: "dir")) var data: String
    @Option(help: ArgumentHelp("Weights to start from (a base run's weights/).", valueName: "dir")) var weights: String
    @Option(help: ArgumentHelp("The CSD model's weights (a csd run's weights/).", valueName: "dir")) var csd: String
    @Option(help: "tiny or small.") var preset: ModelPreset = .small
    @Option(help: "Samples per step.") var batch: Int = 4
    @Option(help: "Steps per measurement (the first is left out).") var steps: Int = 8
    @Option(help: "Rounds over the variants.") var rounds: Int = 3

    func validate() throws {
        try requireTrainable(preset)
        guard batch >= 1, steps >= 2, rounds >= 1 else { throw ValidationError("--batch >= 1, --steps >= 2, --rounds >= 1") }
    }

    func run() throws {
        try MPIJob.run("bench reward") { runtime in
            guard runtime.world.size >= 2 else {
                throw ValidationError("uso bench reward needs 2 ranks (mpirun -np 2): a trainer and a reward rank")
            }
            var c = RunConfig()
            c.run.stage = .uso
            c.run.preset = preset
            c.run.initWeights = weights
            c.data.path = data
            c.data.globalBatch = batch
            c.reward.csdWeights = csd
            c.reward.startStep = 0
            let rows = try RewardBenchmark(world: runtime.world, base: c, steps: steps, rounds: rounds).run()
            guard runtime.world.rank == 0 else { return }
            print("uso bench reward: stage uso, preset \(preset), \(batch) samples per step, \(rounds) rounds of \(steps) steps; "
                  + "1 trainer, \(runtime.world.size - 1) reward rank(s)")
            let table = TextTable(header: ["reward", "step ms", "reward wait ms", "rewarded samples/step", "reward rank busy"], rows: rows.map { r in
                [r.variant, String(format: "%.1f", r.stepSeconds * 1e3), String(format: "%.2f", r.rewardWaitSeconds * 1e3),
                 String(format: "%.1f", r.rewardSamplesPerStep), r.rewardRankBusy.map { String(format: "%.1f%%", $0 * 100) } ?? "-"]
            })
            print(table.lines().joined(separator: "\n"))
            if let d = rows.first(where: { $0.variant == "dedicated" }), let off = rows.first(where: { $0.variant == "off" }),
               let col = rows.first(where: { $0.variant == "colocated" }) {
                print(String(format: "dedicated / off = %.3f; colocated / off = %.3f", d.stepSeconds / off.stepSeconds, col.stepSeconds / off.stepSeconds))
            }
        }
    }
}
