import ArgumentParser
import Foundation
import Inference
import TripletData
import Training
import USOModel

/// `uso eval`: measurements of a trained model.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a trained model.",
        subcommands: [EvalStyleCommand.self]
    )
}

/// `uso eval style`: CSD style similarity of generated images to their style references.
struct EvalStyleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "style",
        abstract: "CSD style similarity of subject+style generations to their style references on held-out triplets.",
        discussion: """
            Generates --count images (subject+style mode, 25 Euler steps) for evenly spread \
            triplets of the set's evaluation split and reports the mean and standard deviation of \
            the CSD cosine between each image and its style reference; beside it, the same score \
            for the triplets' real targets against their own and against another triplet's \
            reference (the CSD model's range).

            Example:
              uso eval style --weights runs/uso/weights --csd runs/csd/weights --data data/triplets --count 64
            """
    )

    @Option(help: ArgumentHelp("The model to evaluate (a run's weights/).", valueName: "dir")) var weights: String
    @Option(help: ArgumentHelp("The CSD model's weights (a csd run's weights/).", valueName: "dir")) var csd: String
    @Option(help: ArgumentHelp("A triplet set.", valueName: "dir")) var data: String
    @Option(help: "tiny or small.") var preset: ModelPreset = .small
    @Option(help: "Images to generate and score (at least 64 for a stable mean).") var count: Int = 64
    @Option(help: "Seed of the first image's noise.") var seed: UInt64 = 3407
    @Option(help: "Euler steps.") var steps: Int = 25
    @Option(help: ArgumentHelp("Also keep the images and their sheet here.", valueName: "dir")) var out: String?

    func run() throws {
        let generation = try Generation(preset: preset, weights: weights, steps: steps)
        let model = CSDModel(config: preset.config)
        model.allocate(seed: 0)
        try ModelWeights.load(model.registry.parameters(in: .csd), from: (csd as NSString).appendingPathComponent(ModelWeights.fileName(.csd)))
        let manifest = try SetLocation.tripletSet(under: data)
        let r = try StyleEvaluation(generation: generation, csd: model).run(manifestPath: manifest, count: count, seed: seed, guidance: 1,
                                                                         folder: out)
        print(String(format: "uso eval style: %@ on %d held-out triplets: CSD style similarity %.4f +- %.4f (std)", weights, r.count, r.mean, r.std))
        print(String(format: "  CSD scale: real targets vs their own style references %.4f, vs another triplet's %.4f", r.targetMatched, r.targetMismatched))
    }
}
