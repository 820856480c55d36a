import ArgumentParser
import Foundation
import USOModel

/// `uso model`: the model's shapes, counts and costs, and its state for outside checks.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Describe a model preset, or dump its state for outside checks.",
        subcommands: [ModelInfoCommand.self, ModelDumpCommand.self]
    )
}

extension ModelPreset: ExpressibleByArgument {}

/// `uso model info`.
struct ModelInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Parameter counts by group, tokens, FLOPs and memory of a preset; USO's LoRA and projector keys.",
        discussion: """
            Nothing is allocated, so flux-dev (FLUX.1-dev dimensions, LoRA rank 128) is described \
            exactly as it would be trained: its dit_lora.safetensors and projector.safetensors key \
            sets with their shapes.

            Examples:
              uso model info --preset small
              uso model info --preset flux-dev
              uso model info --preset flux-dev --no-keys
              uso model info --preset small --config-json > small.json
            """
    )

    @Option(help: "tiny, small or flux-dev.")
    var preset: ModelPreset = .small

    @Flag(inversion: .prefixedNo, help: "List every LoRA and projector tensor with its shape (default: on for flux-dev).")
    var keys: Bool?

    @Flag(help: "Print only the preset's dimensions as JSON (the config.json `uso model dump` writes), for outside tools.")
    var configJson = false

    func run() throws {
        if configJson {
            try printJSON(preset.config)
            return
        }
        let model = try USOModel(config: preset.config)
        print(ModelInfo(model: model).rendered(listKeys: keys ?? (preset == .fluxDev)))
    }
}

/// `uso model dump`.
struct ModelDumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Write a model's weights, one fixed batch's inputs, its v_hat, loss and LoRA/projector gradients.",
        discussion: """
            Everything is safetensors (plus config.json), so the model can be checked from outside: \
            Scripts/reference/uso_reference.py recomputes v_hat, the loss and the gradients from \
            these files with JAX and compares. The batch holds one sample per kind of condition \
            (subject + style, style, subject, text only, multi-style).

            Example:
              uso model dump --preset tiny --seed 7 --out /tmp/dump
            """
    )

    @Option(help: "tiny or small (flux-dev is too large to run here).")
    var preset: ModelPreset = .tiny

    @Option(help: "Seed of the weights and the batch.")
    var seed: UInt64 = 7

    @Option(help: ArgumentHelp("Output folder (created).", valueName: "dir"))
    var out: String

    @Option(help: "Std of the LoRA up weights (0: USO's zero init, under which LoRA down gradients are zero).")
    var loraUpStd: Float = 0.1

    func validate() throws {
        guard preset != .fluxDev else { throw ValidationError("--preset flux-dev cannot be run on this machine; use tiny or small") }
        guard loraUpStd >= 0 else { throw ValidationError("--lora-up-std must not be negative") }
    }

    func run() throws {
        let summary = try ModelDump.write(preset: preset, seed: seed, loraUpStd: loraUpStd, to: out)
        print("uso model dump: preset \(preset.rawValue), seed \(seed), \(summary.samples.count) samples ("
              + summary.samples.map(\.name).joined(separator: ", ") + ")")
        print(String(format: "loss %.6f", summary.loss))
        for f in summary.files { print("  \(out)/\(f)") }
    }
}
