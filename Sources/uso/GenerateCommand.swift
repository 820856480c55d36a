import ArgumentParser
import Foundation
import Inference
import ImageIO
import Training
import TripletData
import USOModel

extension Generation.Mode: ExpressibleByArgument {}

/// `uso generate`: samples from a trained model.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate images with USO's modes: subject, style, subject+style, multi-style, text.",
        discussion: """
            Euler sampling from noise (t = 1) to t = 0 on FLUX's shifted schedule, then the \
            autoencoder's decoder. Conditions come from a triplet set (its evaluation split: \
            held-out subjects and styles) or from image files. Writes OUT/000.png ... and \
            OUT/sheet.png with the conditions beside each result.

            Examples:
              uso generate --weights runs/uso/weights --data data/triplets --mode subject+style --count 8 --out samples
              uso generate --weights runs/base/weights --data data/triplets --mode text --split train --out fit
              uso generate --weights runs/uso/weights --style a.png --content cat.png --prompt "a cat" --out samples
            """
    )

    @Option(help: ArgumentHelp("A weights folder (a run's weights/).", valueName: "dir"))
    var weights: String

    @Option(help: "tiny or small: the preset the weights were trained at.")
    var preset: ModelPreset = .small

    @Option(help: "subject, style, subject+style, multi-style or text.")
    var mode: Generation.Mode = .subjectStyle

    @Option(help: ArgumentHelp("A triplet set whose triplets give prompts and condition images.", valueName: "dir"))
    var data: String?

    @Option(help: "With --data: its eval rows (held out), or its train rows to see the fit (trained on: never a held-out figure).")
    var split: Split = .eval

    @Option(help: ArgumentHelp("A content (subject) image, PNG or JPEG.", valueName: "file"))
    var content: String?

    @Option(help: ArgumentHelp("A style image, PNG or JPEG (repeat for multi-style).", valueName: "file"))
    var style: [String] = []

    @Option(help: "The prompt (with image files).")
    var prompt: String = ""

    @Option(help: "Images to generate.")
    var count: Int = 8

    @Option(help: "Seed of the first image's noise (the next images add 1, 2, ...).")
    var seed: UInt64 = 3407

    @Option(help: "Euler steps.")
    var steps: Int = 25

    @Option(help: "The guidance embedding's value (the models here train with 1).")
    var guidance: Float = 1

    @Option(help: ArgumentHelp("Output folder.", valueName: "dir"))
    var out: String

    func validate() throws {
        guard (data == nil) != (content == nil && style.isEmpty && prompt.isEmpty) || data == nil else {
            throw ValidationError("give either --data or image files and a prompt, not both")
        }
        guard count >= 1 && steps >= 1 else { throw ValidationError("--count and --steps must be positive") }
        try requireTrainable(preset)
    }

    func run() throws {
        let m = mode
        let g = try Generation(preset: preset, weights: weights, steps: steps)
        var requests: [Generation.Request]
        if let data {
            let manifest = try SetLocation.tripletSet(under: data)
            requests = try Generation.requests(fromSet: manifest, mode: m, count: count, seed: seed, split: split)
        } else {
            let styles = try style.map { try ImageFiles.read($0) }
            let contentImage = try content.map { try ImageFiles.read($0) }
            requests = (0..<count).map { k in
                Generation.Request(prompt: prompt, styles: styles, content: contentImage, target: nil, seed: seed &+ UInt64(k))
            }
        }
        let started = Date()
        try g.run(requests, mode: m, guidance: guidance, folder: out)
        let rows = data == nil ? "" : split == .eval ? " on held-out rows" : " on TRAIN rows (trained on, not held out)"
        print(String(format: "uso generate: %d image(s), mode %@%@, %d steps, %.1f s; wrote %@/000.png ... and %@/sheet.png",
                     requests.count, m.rawValue, rows, steps, Date().timeIntervalSince(started), out, out))
    }
}
