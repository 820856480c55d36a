import ArgumentParser
import Bench
import Foundation
import USOModel

/// `uso bench`: measurements of this machine and this code, for the README's Performance section.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (build with -c release; run under mpirun).",
        discussion: """
            Each benchmark measures its alternatives interleaved in one run and reports ratios, \
            because these machines are shared and noisy: compare within a run, not across runs.
            """,
        subcommands: [BenchAllreduceCommand.self, BenchStepCommand.self, BenchLoaderCommand.self]
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

            Examples:
              OPENBLAS_NUM_THREADS=1 .build/release/uso bench step --preset small
              .build/release/uso bench step --preset small --stage base --iterations 50
            """
    )

    @Option(help: "tiny or small.")
    var preset: ModelPreset = .small

    @Option(help: "uso (LoRA + projector trained) or base (every DiT weight trained).")
    var stage: String = "uso"

    @Option(help: "Timed iterations.")
    var iterations: Int = 20

    @Option(help: ArgumentHelp("Also write the result as JSON to this file.", valueName: "file"))
    var json: String?

    func validate() throws {
        guard preset != .fluxDev else { throw ValidationError("--preset flux-dev is too large to run here; use tiny or small") }
        guard StepBenchmark.Stage(rawValue: stage) != nil else { throw ValidationError("--stage must be uso or base") }
        guard iterations >= 1 else { throw ValidationError("--iterations must be at least 1") }
    }

    func run() throws {
        var options = StepBenchmark.Options(preset: preset)
        options.stage = StepBenchmark.Stage(rawValue: stage)!
        options.iterations = iterations
        #if DEBUG
        print("warning: this is a debug build; benchmark with `swift build -c release`")
        #endif
        let result = try StepBenchmark(options: options).run()
        print(StepBenchmark.render(result))
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
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
        guard let manifest = try manifests(under: path).first else { return }
        let r = try LoaderBenchmark(manifestPath: manifest, preset: preset, globalBatch: batch, steps: steps).run()
        print("uso bench loader: preset \(preset.rawValue), \(r.samplesPerStep) samples per step, \(r.steps) steps")
        print(String(format: "step %.2f ms; waiting for data %.3f ms per step = %.2f%% of the step", r.stepSeconds * 1e3,
                     r.waitSeconds * 1e3, r.waitFraction * 100))
        print(String(format: "the same steps loaded with no compute to hide behind: %.2f ms per step (%.1f%% of a step)",
                     r.loadOnlySeconds * 1e3, r.loadOnlySeconds / r.stepSeconds * 100))
    }
}
