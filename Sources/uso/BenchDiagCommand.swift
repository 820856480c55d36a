import ArgumentParser
import Bench
import Diagnostics
import Foundation
import Config
import USOModel

/// `uso bench diag`: the flight recorder's cost on training steps.
struct BenchDiagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diag",
        abstract: "Training step time with the diagnostics on and checked against off (target: on / off <= 1.01).",
        discussion: """
            Run under mpirun (2 ranks on these machines). Trains the stage for a few steps with the \
            recorder on as in a run (its ring in a board file, every span, the stall inspector \
            watching, flushes every diag.flush_every steps), off, and on with every collective's \
            fingerprint compared first (diag.check_collectives), rotating the order in rounds; \
            reports the median step time of each and the median of the rounds' ratios to off. \
            Then, per round, one run whose steps cycle through the three modes (switched at each \
            step's start on every rank), which takes the noise between runs out of the ratios, \
            and the flushes' cost per step (they fall between steps).

            Example:
              Cluster/launch-local.sh -np 2 uso bench diag --data data --stage base
            """
    )

    @Option(help: ArgumentHelp("A data folder with triplets/ and pairs/ at the preset's size.", valueName: "dir"))
    var data: String

    @Option(help: "base or uso.") var stage: Stage = .base
    @Option(help: "tiny or small.") var preset: ModelPreset = .small
    @Option(help: "Samples per trainer per step.") var batch: Int = 4
    @Option(help: "Steps per measurement (the first is left out).") var steps: Int = 8
    @Option(help: "Rounds (each: off, on and checked).") var rounds: Int = 5

    func validate() throws {
        guard batch >= 1, steps >= 2, rounds >= 1 else { throw ValidationError("--batch >= 1, --steps >= 2, --rounds >= 1") }
    }

    func run() throws {
        try MPIJob.run("bench diag") { runtime in
            var c = RunConfig()
            c.run.stage = stage
            c.run.preset = preset
            c.run.initWeights = "random"
            c.data.path = (data as NSString).appendingPathComponent(stage == .base ? "pairs" : "triplets")
            let r = try DiagBenchmark(world: runtime.world, base: c, perTrainerBatch: batch, steps: steps, rounds: rounds).run()
            guard runtime.world.rank == 0 else { return }
            print("uso bench diag: stage \(stage), preset \(preset), \(runtime.world.size) ranks, \(batch) samples per trainer per step, "
                  + "\(rounds) rounds of \(steps) steps in each of the 3 modes (off, on, checked), \(String(format: "%.0f", r.spansPerStep)) spans per step on rank 0")
            print(String(format: "step with the recorder on %.2f ms, off %.2f ms; on / off = %.4f (median of the rounds' ratios)",
                         r.onSeconds * 1e3, r.offSeconds * 1e3, r.ratio))
            print(String(format: "with every collective's fingerprint checked (diag.check_collectives) %.2f ms; checked / off = %.4f",
                         r.checkedSeconds * 1e3, r.checkedRatio))
            print(String(format: "steps cycling within one run: on / off = %.4f, checked / off = %.4f (medians over every cycle of consecutive off, on, checked steps); "
                         + "flushes %.1f us per step, between steps (%.5f of a step)",
                         r.alternatingRatio, r.alternatingCheckedRatio, r.flushPerStep * 1e6, r.flushPerStep / r.offSeconds))
            print(String(format: "one span (begin + end) alone: %.0f ns; %.0f spans per step cost %.1f us of a %.1f ms step (%.6f)",
                         r.spanNanoseconds, r.spansPerStep, r.spanNanoseconds * r.spansPerStep / 1e3, r.offSeconds * 1e3,
                         1 + r.spanNanoseconds * r.spansPerStep * 1e-9 / r.offSeconds))
        }
    }
}
