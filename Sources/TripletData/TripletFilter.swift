import Foundation
import TensorCore
import USOModel

/// Scores a triplet for the filter: how much the style reference shares the target's style,
/// and how much the content reference shares its subject.
public protocol TripletScorer {
    func styleSimilarity(styleReference: [UInt8], target: [UInt8], resolution: Int) -> Double
    func subjectConsistency(contentReference: [UInt8], target: [UInt8], resolution: Int) -> Double
}

/// Training-free descriptors of the frozen style encoder's features (the VLM filter's role
/// until the CSD model exists). Style: the mean and covariance of the tokens' features at
/// the earliest tap (texture and colour statistics, the Gram-matrix idea of style transfer),
/// compared by cosine. Subject: the tokens' features at the deepest tap, pooled over the
/// image, compared by cosine.
public final class EncoderScorer: TripletScorer {
    let encoder: VisionTransformer
    let activations: VisionTransformer.Activations
    let image: Tensor
    let early: Int, deep: Int

    /// The preset's style encoder, its weights from `weights`/style_encoder.safetensors, or
    /// drawn from `seed` when no folder is given.
    public convenience init(preset: ModelPreset, weights: String?, seed: UInt64) throws {
        let model = try USOModel(config: preset.config)
        model.allocate(seed: seed)
        if let weights {
            try ModelWeights.load(model.registry.parameters(in: .styleEncoder),
                                  from: (weights as NSString).appendingPathComponent(ModelWeights.fileName(.styleEncoder)))
        }
        self.init(model: model)
    }

    /// Uses `model`'s style encoder (allocated, weights loaded or drawn from its seed).
    public init(model: USOModel) {
        encoder = model.styleEncoder
        activations = encoder.makeActivations()
        image = Tensor(zeros: [3, model.config.styleEncoder.imageSize, model.config.styleEncoder.imageSize])
        early = model.config.styleEncoder.taps.min() ?? 0
        deep = model.config.styleEncoder.taps.max() ?? 0
    }

    /// Runs the encoder on an HWC uint8 image of side `resolution` (resized to the encoder's size).
    func features(_ pixels: [UInt8], resolution s: Int) {
        let size = encoder.config.imageSize
        for c in 0..<3 {
            for y in 0..<size {
                for x in 0..<size {
                    // Nearest sample when the sizes differ (the sets here are made at the model's size).
                    let sy = y * s / size, sx = x * s / size
                    image.data[c * size * size + y * size + x] = Float(pixels[(sy * s + sx) * 3 + c]) / 127.5 - 1
                }
            }
        }
        encoder.forward(image: image.data, activations)
    }

    func styleDescriptor(_ pixels: [UInt8], resolution: Int) -> [Double] {
        features(pixels, resolution: resolution)
        let n = encoder.config.tokens, e = encoder.config.width
        let f = activations.layerOutput(early)
        let mean = tokenMean(f)
        var cov = [Double](repeating: 0, count: e * e)
        for t in 0..<n {
            for i in 0..<e {
                let a = Double(f[t * e + i]) - mean[i]
                for j in 0..<e { cov[i * e + j] += a * (Double(f[t * e + j]) - mean[j]) / Double(n) }
            }
        }
        return mean + cov
    }

    func subjectDescriptor(_ pixels: [UInt8], resolution: Int) -> [Double] {
        features(pixels, resolution: resolution)
        return tokenMean(activations.layerOutput(deep))
    }

    /// The mean over tokens of one layer's features: (tokens, width) -> (width).
    func tokenMean(_ f: UnsafePointer<Float>) -> [Double] {
        let n = encoder.config.tokens, e = encoder.config.width
        var mean = [Double](repeating: 0, count: e)
        for t in 0..<n { for j in 0..<e { mean[j] += Double(f[t * e + j]) / Double(n) } }
        return mean
    }

    static func cosine(_ a: [Double], _ b: [Double]) -> Double {
        var dot = 0.0, na = 0.0, nb = 0.0
        for i in a.indices { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i] }
        return dot / max((na * nb).squareRoot(), 1e-12)
    }

    public func styleSimilarity(styleReference: [UInt8], target: [UInt8], resolution: Int) -> Double {
        Self.cosine(styleDescriptor(styleReference, resolution: resolution), styleDescriptor(target, resolution: resolution))
    }

    public func subjectConsistency(contentReference: [UInt8], target: [UInt8], resolution: Int) -> Double {
        Self.cosine(subjectDescriptor(contentReference, resolution: resolution), subjectDescriptor(target, resolution: resolution))
    }
}

/// `uso data filter`: keeps a triplet when its style similarity is at least tau_s and its
/// subject consistency at least tau_c; writes a manifest listing the rest as excluded (the
/// shards are not rewritten).
public struct TripletFilter {
    public struct Report: Sendable {
        public var total = 0
        public var failedStyle = 0
        public var failedSubject = 0
        public var failedBoth = 0
        public var kept = 0
        public var styleScores: [Double] = []
        public var subjectScores: [Double] = []
        /// Triplets without a style (or content) reference are not tested on it.
        public var untested = 0
    }

    public let tauStyle: Double, tauSubject: Double

    public init(tauStyle: Double, tauSubject: Double) {
        self.tauStyle = tauStyle
        self.tauSubject = tauSubject
    }

    public func run(manifestPath: String, scorer: TripletScorer, output: String) throws(TripletDataError) -> Report {
        var manifest = try Manifest.read(manifestPath)
        guard manifest.kind == .triplets else { throw TripletDataError(file: manifestPath, "filters triplets, not \(manifest.kind.rawValue)") }
        let already = Set(manifest.excluded)
        var excluded = already
        var report = Report()
        var global = 0
        for i in manifest.shards.indices {
            let r = try manifest.openShard(i, manifestPath: manifestPath, verifyData: true)
            for j in 0..<r.count {
                defer { global += 1 }
                if already.contains(global) { continue }
                report.total += 1
                let rec = try r.record(j)
                var styleOK = true, subjectOK = true
                if let style = rec.styleReference {
                    let s = scorer.styleSimilarity(styleReference: style, target: rec.target, resolution: r.resolution)
                    report.styleScores.append(s)
                    styleOK = s >= tauStyle
                } else { report.untested += 1 }
                if let content = rec.contentReference {
                    let c = scorer.subjectConsistency(contentReference: content, target: rec.target, resolution: r.resolution)
                    report.subjectScores.append(c)
                    subjectOK = c >= tauSubject
                }
                if !styleOK { report.failedStyle += 1 }
                if !subjectOK { report.failedSubject += 1 }
                if !styleOK && !subjectOK { report.failedBoth += 1 }
                if styleOK && subjectOK { report.kept += 1 } else { excluded.insert(global) }
            }
        }
        manifest.excluded = excluded.sorted()
        manifest.notes["filter"] = "tau_s \(tauStyle), tau_c \(tauSubject): kept \(report.kept) of \(report.total)"
        // Shard paths stay relative to the original manifest's folder.
        let sameFolder = (output as NSString).deletingLastPathComponent == (manifestPath as NSString).deletingLastPathComponent
        if !sameFolder {
            let dir = (manifestPath as NSString).deletingLastPathComponent
            for k in manifest.shards.indices where !manifest.shards[k].file.hasPrefix("/") {
                manifest.shards[k].file = (dir as NSString).appendingPathComponent(manifest.shards[k].file)
            }
        }
        try manifest.write(to: output)
        return report
    }
}
