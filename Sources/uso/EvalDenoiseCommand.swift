import ArgumentParser
import Foundation
import Inference
import TripletData
import Training
import USOModel

/// `uso eval denoise`: the model's one-step denoising by noise level, to tell a weak model
/// from a weak sampler.
struct EvalDenoiseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "denoise",
        abstract: "One-step denoising by noise level: flow loss and PSNR of the decoded x0 estimate, with 95% bootstrap intervals.",
        discussion: """
            For --count rows of the set's --split (eval: held out; train: the fit) and each \
            noise level t of --t: the row's target is encoded and noised to \
            x_t = (1 - t) x0 + t noise, the model predicts the velocity under the --mode's \
            conditions, and its one-step estimate x0_hat = x_t - t v_hat is decoded. Printed per \
            t: the flow loss (what training lowers) and the PSNR (dB, 0-255 pixels) of x0_hat \
            against the target, beside the PSNR of x_t itself decoded (no denoising), and the \
            autoencoder's own reconstruction PSNR, the ceiling. A PSNR at small t well under the ceiling says the model, not the sampler's \
            schedule, loses the detail; eval far below train says it does not generalise.

            Example:
              uso eval denoise --weights runs/small-uso/weights --data data --mode subject+style
              uso eval denoise --weights runs/small-base/weights --data data --split train --t 0.1,0.5,0.9
            """
    )

    @Option(help: ArgumentHelp("The model to evaluate (a run's weights/).", valueName: "dir")) var weights: String
    @Option(help: ArgumentHelp("A triplet set, or a data folder holding one.", valueName: "dir")) var data: String
    @Option(help: "Rows of this split: eval (held out) or train.") var split: Split = .eval
    @Option(help: "Conditions: text, subject, style or subject+style.") var mode: Generation.Mode = .text
    @Option(help: "Rows, spread evenly over the split.") var count: Int = 32
    @Option(help: ArgumentHelp("Noise levels, comma separated, each in (0, 1].", valueName: "list"))
    var t: String = "0.1,0.3,0.5,0.7,0.9"
    @Option(help: ArgumentHelp("Also write denoise-sheet.png here: each row's conditions, target, reconstruction and x0_hat per t.", valueName: "dir"))
    var out: String?
    @Option(help: "tiny or small.") var preset: ModelPreset = .small
    @Option(help: "Seed of the noise and of the bootstrap resampling.") var seed: UInt64 = 0
    @Flag(help: "Print the result as JSON.") var json = false

    func run() throws {
        var levels: [Float] = []
        for part in t.split(separator: ",") {
            guard let v = Float(part.trimmingCharacters(in: .whitespaces)), v > 0, v <= 1 else {
                throw ValidationError("--t: '\(part)' is not a noise level in (0, 1]")
            }
            levels.append(v)
        }
        guard count > 0 else { throw ValidationError("--count must be at least 1") }
        let generation = try Generation(preset: preset, weights: weights, steps: 1)
        let manifest = try SetLocation.tripletSet(under: data)
        let r = try DenoiseEvaluation(generation: generation).run(manifestPath: manifest, split: split, mode: mode,
                                                                    count: count, levels: levels, seed: seed, folder: out)
        if json {
            try printJSON(r)
            return
        }
        let label = split == .eval ? "held-out (eval)" : "train (the fit, not held out)"
        print("uso eval denoise: \(weights), \(r.mode), \(r.rows) \(label) rows of \(manifest)")
        print("  autoencoder reconstruction PSNR (the ceiling) \(r.reconstructionPSNR.formatted(digits: 2)) dB")
        print("     t  flow loss                     PSNR of decoded x0_hat (dB)   x_t decoded, no denoising (dB)")
        for l in r.levels {
            print(String(format: "  %4.2f  ", l.t) + l.flowLoss.formatted(digits: 4).padding(toLength: 30, withPad: " ", startingAt: 0)
                  + l.psnr.formatted(digits: 2).padding(toLength: 30, withPad: " ", startingAt: 0) + l.noisyPSNR.formatted(digits: 2))
        }
        if let out { print("  wrote \((out as NSString).appendingPathComponent("denoise-sheet.png"))") }
    }
}
