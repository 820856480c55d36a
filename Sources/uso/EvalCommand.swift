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
        subcommands: [EvalStyleCommand.self, EvalCSDCommand.self, EvalAutoencoderCommand.self, EvalDenoiseCommand.self]
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

/// `uso eval csd`: style retrieval by a CSD model on a styles set's held-out images.
struct EvalCSDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "csd",
        abstract: "Style retrieval by a CSD model on held-out images: top-1 accuracy and mAP, with 95% bootstrap intervals.",
        discussion: """
            Embeds every eval (held-out) row of a styles set and, image by image, ranks all the \
            other eval images by cosine. Scores two groups of queries: held-out styles (no train \
            row has them: the model never saw the style) and held-out images of trained styles, \
            each against the whole gallery. Prints top-1 accuracy \
            (the nearest image has the query's style) and mean average precision, each with its \
            95% bootstrap interval over queries, beside the chance level of a random ranking. \
            Train rows are never scored.

            Example:
              uso eval csd --csd runs/csd/weights --data data/styles
              uso eval csd --csd runs/csd/weights --data data --json
            """
    )

    @Option(help: ArgumentHelp("The CSD model's weights (a csd run's weights/).", valueName: "dir")) var csd: String
    @Option(help: ArgumentHelp("A styles set, or a data folder holding one.", valueName: "dir")) var data: String
    @Option(help: "tiny or small.") var preset: ModelPreset = .small
    @Option(help: "Seed of the bootstrap resampling.") var seed: UInt64 = 0
    @Flag(help: "Print the result as JSON.") var json = false

    func run() throws {
        let model = CSDModel(config: preset.config)
        model.allocate(seed: 0)
        try ModelWeights.load(model.registry.parameters(in: .csd), from: (csd as NSString).appendingPathComponent(ModelWeights.fileName(.csd)))
        let manifest = try SetLocation.set(of: .styles, under: data)
        let r = try StyleRetrieval(csd: model).run(manifestPath: manifest, seed: seed)
        if json {
            try printJSON(r)
            return
        }
        print("uso eval csd: \(csd) on the eval rows of \(manifest) (gallery \(r.galleryImages) images of \(r.galleryStyles) styles)")
        func line(_ name: String, _ s: StyleRetrieval.Score?) {
            guard let s else { print("  \(name): no query with another image of its style"); return }
            print("  \(name) (\(s.images) queries, \(s.styles) styles): top-1 \(s.top1), mAP \(s.meanAveragePrecision), chance \(String(format: "%.3f", s.chance))")
        }
        line("held-out styles \(r.heldOutStyleIDs.map(String.init).joined(separator: ","))", r.heldOutStyles)
        line("trained styles, held-out images", r.trainedStyles)
    }
}

/// `uso eval autoencoder`: reconstruction quality and grid artefacts on held-out images.
struct EvalAutoencoderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autoencoder",
        abstract: "The autoencoder on held-out images: reconstruction PSNR and grid step ratios, with 95% bootstrap intervals.",
        discussion: """
            Encodes and decodes the target of every eval (held-out) row of a set and prints the \
            mean PSNR (dB, 0-255 pixels) and, for the reconstructions beside the originals, the \
            grid step ratio at the autoencoder's patch and at the DiT's token: the mean jump \
            between neighbouring pixels across a grid line over the mean jump inside a cell (near \
            the original's: no grid artefacts; above it: cells painted on their own).

            With --images, the same ratios for generated images (numbered PNG files, as uso \
            generate writes them), to see whether generations carry the grid.

            Example:
              uso eval autoencoder --weights runs/small-autoencoder/weights --data data/triplets
              uso eval autoencoder --weights runs/small-uso/weights --data data --images samples
            """
    )

    @Option(help: ArgumentHelp("A weights folder holding autoencoder.safetensors (any stage's weights/ after the autoencoder).", valueName: "dir"))
    var weights: String
    @Option(help: ArgumentHelp("A set (triplets, pairs or styles), or a data folder (its triplet set).", valueName: "dir")) var data: String
    @Option(help: ArgumentHelp("Also the grid step ratios of these generated images (uso generate --out).", valueName: "dir"))
    var images: String?
    @Option(help: "tiny or small.") var preset: ModelPreset = .small
    @Option(help: "Seed of the bootstrap resampling.") var seed: UInt64 = 0
    @Flag(help: "Print the result as JSON.") var json = false

    func run() throws {
        let evaluation = try AutoencoderEvaluation.load(preset: preset, weights: weights)
        let manifests = try SetLocation.manifests(under: data)
        let manifest = manifests.count == 1 ? manifests[0] : try SetLocation.tripletSet(under: data)
        var r = try evaluation.run(manifestPath: manifest, seed: seed)
        if let images {
            let g = try evaluation.gridRatios(imagesIn: images, seed: seed)
            r.imagesFolder = images; r.patchRatioImages = g.patch; r.tokenRatioImages = g.token
        }
        if json {
            try printJSON(r)
            return
        }
        print("uso eval autoencoder: \(weights) on \(r.images) held-out images of \(manifest)")
        print("  PSNR \(r.psnr.formatted(digits: 2)) dB")
        print("  grid step ratio at the patch (\(r.patchPixels) px): reconstructions \(r.patchRatioReconstruction), originals \(r.patchRatioOriginal)")
        print("  grid step ratio at the token (\(r.tokenPixels) px): reconstructions \(r.tokenRatioReconstruction), originals \(r.tokenRatioOriginal)")
        if let images, let p = r.patchRatioImages, let t = r.tokenRatioImages {
            print("  grid step ratio of \(p.count) images in \(images): patch \(p), token \(t)")
        }
    }
}
