import ArgumentParser
import Comm
import Foundation
import ImageIO
import TripletData
import USOModel

/// `uso data`: the triplet set and its companions.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Make, inspect and look at the training data.",
        discussion: """
            A data folder holds sets, each a folder with HDF5 shards and a manifest.json: \
            triplets/ (style reference, content reference, stylized target, prompt) for stage uso, \
            pairs/ (image, prompt) for stage base, and styles/ (image, style label) for stage csd.
            """,
        subcommands: [DataSynthCommand.self, DataImportCommand.self, DataFilterCommand.self, DataInspectCommand.self,
                      DataSheetCommand.self]
    )
}

/// `--split train|eval`.
extension Split: ExpressibleByArgument {
    public init?(argument: String) {
        guard let s = Split.allCases.first(where: { $0.name == argument }) else { return nil }
        self = s
    }
    public static var allValueStrings: [String] { allCases.map(\.name) }
    public var defaultValueDescription: String { name }
}

/// `uso data inspect`.
struct DataInspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Count samples by split, subject, style and layout, and verify every shard's checksums.",
        discussion: """
            Opens every shard of every set under DIR and checks each dataset's CRC-32; a missing, \
            truncated or corrupted shard stops with the file, the dataset and what is wrong.

            Examples:
              uso data inspect data/
              uso data inspect data/triplets/manifest.json
            """
    )

    @Argument(help: ArgumentHelp("A data folder, a set folder or a manifest.", valueName: "dir"))
    var path: String

    func run() throws {
        for (k, m) in try SetLocation.manifests(under: path).enumerated() {
            if k > 0 { print("") }
            print(try SetInspection(manifestPath: m).rendered())
        }
    }
}

/// `uso data sheet`.
struct DataSheetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sheet",
        abstract: "Write a contact sheet PNG of samples: style reference, content reference, target, prompt beneath.",
        discussion: """
            Examples:
              uso data sheet data/triplets --out sheet.png
              uso data sheet data/triplets --count 24 --split eval --out eval.png
            """
    )

    @Argument(help: ArgumentHelp("A set folder or its manifest.", valueName: "dir"))
    var path: String

    @Option(help: "The PNG to write.")
    var out: String

    @Option(help: "How many samples (spread evenly over the set).")
    var count: Int = 12

    @Option(help: "Only samples of this split: train or eval.")
    var split: Split?

    @Option(help: "Pixel scale of the images.")
    var scale: Int = 2

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard (1...8).contains(scale) else { throw ValidationError("--scale must be in 1...8") }
    }

    func run() throws {
        let manifestPath = try SetLocation.set(under: path)
        let (image, n) = try SetSheet.render(manifestPath: manifestPath, count: count, split: split, scale: scale)
        try ImageFiles.writePNG(image, to: out)
        print("wrote \(out): \(n) sample(s) of \(manifestPath)")
    }
}

/// `uso data import`.
struct DataImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import triplets in UNO's dataset format (a JSON list of prompt, image_paths, image_tgt_path).",
        discussion: """
            Paths are relative to the JSON file; the first of image_paths is the content reference \
            and the second the style reference (further ones are counted and left out). PNG and \
            JPEG images are centre-cropped and resized to --resolution. A bad entry stops the \
            import with its index and path, unless --skip-bad.

            Examples:
              uso data import uno/train.json --out data/imported --resolution 64
              uso data import uno/train.json --out data/imported --skip-bad
            """
    )

    @Argument(help: ArgumentHelp("UNO's dataset JSON.", valueName: "file.json"))
    var json: String

    @Option(help: ArgumentHelp("The set folder to create.", valueName: "dir"))
    var out: String

    @Option(help: "Image side in pixels.")
    var resolution: Int = 64

    @Option(help: "Samples per shard.")
    var shardSize: Int = 256

    @Flag(help: "Skip bad entries (counted and listed) instead of stopping at the first.")
    var skipBad = false

    func validate() throws {
        guard resolution >= 8 && resolution <= 1024 else { throw ValidationError("--resolution must be in 8...1024") }
        guard shardSize >= 1 else { throw ValidationError("--shard-size must be positive") }
    }

    func run() throws {
        let report = try UNOImporter(jsonPath: json, resolution: resolution, shardSize: shardSize, skipBad: skipBad).run(into: out)
        print("uso data import: \(report.imported) triplet(s) in \(report.shards) shard(s) at \(resolution) px into \(out)")
        if report.extraStyleImages > 0 { print("left out \(report.extraStyleImages) style image(s) beyond the first of their entry") }
        if !report.skipped.isEmpty {
            print("skipped \(report.skipped.count) bad entr\(report.skipped.count == 1 ? "y" : "ies"):")
            for s in report.skipped { print("  \(s.reason)") }
        }
    }
}

/// `uso data filter`.
struct DataFilterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filter",
        abstract: "Keep triplets whose style reference matches the target's style and content reference its subject.",
        discussion: """
            Scores each triplet with training-free descriptors of the frozen style encoder: style \
            similarity (cosine of feature mean and covariance, the Gram-matrix idea) of style \
            reference and target, and subject consistency (cosine of pooled deep features) of \
            content reference and target. Keeps a triplet when both reach their threshold, prints \
            how many each test removed, and writes a manifest listing the rest as excluded; the \
            shards are not rewritten. Run once with low thresholds to see the score distribution.

            Examples:
              uso data filter data/triplets --preset small --tau-s 0.8 --tau-c 0.5
              uso data filter data/triplets --weights runs/base/weights --tau-s 0.8 --tau-c 0.5 --out data/triplets/kept.json
            """
    )

    @Argument(help: ArgumentHelp("A triplet set folder or its manifest.", valueName: "dir"))
    var path: String

    @Option(help: "Model preset whose style encoder scores (its image size should match the set's).")
    var preset: ModelPreset = .small

    @Option(help: ArgumentHelp("A weights folder holding style_encoder.safetensors (default: the preset's seeded weights).", valueName: "dir"))
    var weights: String?

    @Option(name: .customLong("tau-s"), help: "Minimum style similarity.")
    var tauStyle: Double

    @Option(name: .customLong("tau-c"), help: "Minimum subject consistency.")
    var tauSubject: Double

    @Option(help: ArgumentHelp("The filtered manifest (default: manifest.filtered.json beside the input).", valueName: "file"))
    var out: String?

    @Option(help: "Seed of the encoder's weights when no --weights are given.")
    var seed: UInt64 = 7

    func validate() throws {
        try requireTrainable(preset)
    }

    func run() throws {
        let manifestPath = try SetLocation.set(under: path)
        let scorer = try EncoderScorer(preset: preset, weights: weights, seed: seed)
        let output = out ?? ((manifestPath as NSString).deletingLastPathComponent as NSString).appendingPathComponent("manifest.filtered.json")
        let r = try TripletFilter(tauStyle: tauStyle, tauSubject: tauSubject)
            .run(manifestPath: manifestPath, scorer: scorer, output: output)
        func spread(_ v: [Double]) -> String {
            guard !v.isEmpty else { return "none" }
            let s = v.sorted()
            return String(format: "min %.3f, median %.3f, max %.3f", s[0], s[s.count / 2], s[s.count - 1])
        }
        print("uso data filter: \(r.total) triplets; kept \(r.kept)")
        print("  style similarity < \(tauStyle): removed \(r.failedStyle) (scores \(spread(r.styleScores)))")
        print("  subject consistency < \(tauSubject): removed \(r.failedSubject) (scores \(spread(r.subjectScores)))")
        print("  failed both: \(r.failedBoth); without a style reference (not style-tested): \(r.untested)")
        print("wrote \(output)")
    }
}
