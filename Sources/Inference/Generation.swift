import Training
import Foundation
import ImageIO
import TensorCore
import TripletData
import USOModel

/// `uso generate`: images from a trained model in USO's modes, written as PNG files and a
/// labelled contact sheet.
public struct Generation {
    public enum Mode: String, Sendable, CaseIterable {
        case subject, style, subjectStyle = "subject+style", multiStyle = "multi-style", text
    }

    /// One request: a prompt and the condition images (HWC uint8 at the model's size).
    public struct Request {
        public var prompt: String
        public var styles: [RGBImage]
        public var content: RGBImage?
        public var target: RGBImage?
        public var seed: UInt64

        public init(prompt: String, styles: [RGBImage], content: RGBImage?, target: RGBImage?, seed: UInt64) {
            self.prompt = prompt; self.styles = styles; self.content = content; self.target = target; self.seed = seed
        }
    }

    public let model: USOModel
    public let sampler: Sampler

    /// Builds the preset's model and loads its weights from `weights`: every group the
    /// sampler uses (DiT, LoRA, projector, encoders, autoencoder) must be there.
    public init(preset: ModelPreset, weights: String, steps: Int) throws {
        model = try USOModel(config: preset.config)
        model.allocate(seed: 0)
        try InitialWeights.loadFolder(weights, key: "--weights", required: [.base, .lora, .projector, .styleEncoder, .autoencoder, .textEncoder],
                                      into: [model.registry])
        sampler = Sampler(model: model, steps: steps)
    }

    public var imageSize: Int { model.config.autoencoder.imageSize }

    /// uint8 HWC -> float CHW in [-1, 1], resized to the model's image size.
    public func tensor(_ image: RGBImage) -> Tensor {
        let s = imageSize
        let img = image.width == s && image.height == s ? image : image.centerSquare().resized(width: s, height: s)
        let t = Tensor(zeros: [3, s, s])
        for i in 0..<(s * s) { for c in 0..<3 { t.data[c * s * s + i] = Float(img.pixels[3 * i + c]) / 127.5 - 1 } }
        return t
    }

    public static func image(_ t: Tensor) -> RGBImage {
        let s = t.shape[1]
        var px = [UInt8](repeating: 0, count: s * s * 3)
        for i in 0..<(s * s) {
            for c in 0..<3 { px[3 * i + c] = UInt8(min(max((t.data[c * s * s + i] + 1) * 127.5, 0), 255).rounded()) }
        }
        return RGBImage(width: s, height: s, pixels: px)
    }

    /// Every row of `split` in the set, and the set's resolution; a set without such rows is
    /// refused (for the eval split: never replaced by trained-on rows).
    static func rows(of manifestPath: String, split: Split) throws -> (rows: [ShardRecord], resolution: Int) {
        let manifest = try Manifest.read(manifestPath)
        var pool: [ShardRecord] = []
        for i in manifest.shards.indices {
            let r = try manifest.openShard(i, manifestPath: manifestPath, verifyData: true)
            for j in 0..<r.count where r.splits[j] == split { pool.append(try r.record(j)) }
        }
        guard !pool.isEmpty else {
            if split == .train { throw TrainingError("\(manifestPath) holds no train rows") }
            throw TrainingError("\(manifestPath) holds no eval (held-out) triplets: generation and evaluation on a set read its eval "
                                + "rows only (uso data synth makes them from the held-out subjects and styles)")
        }
        return (pool, manifest.resolution)
    }

    /// Requests from a set's held-out triplets (its eval split; a set without one is refused,
    /// never replaced by trained-on rows), `count` spread evenly, with the conditions `mode` keeps.
    /// `split: .train` reads trained-on rows instead, to see the fit (never to report as held out).
    public static func requests(fromSet manifestPath: String, mode: Mode, count: Int, seed: UInt64,
                                split: Split = .eval) throws -> [Request] {
        let (pool, s) = try rows(of: manifestPath, split: split)
        func img(_ px: [UInt8]?) -> RGBImage? { px.map { RGBImage(width: s, height: s, pixels: $0) } }
        return (0..<count).map { k in
            let r = pool[k * pool.count / count % pool.count]
            let other = pool[(k * pool.count / count + pool.count / 2 + 1) % pool.count]
            var styles: [RGBImage] = []
            switch mode {
            case .style, .subjectStyle: styles = [img(r.styleReference)].compactMap { $0 }
            case .multiStyle: styles = [img(r.styleReference), img(other.styleReference)].compactMap { $0 }
            case .subject, .text: styles = []
            }
            let content = mode == .subject || mode == .subjectStyle || mode == .multiStyle ? img(r.contentReference) : nil
            return Request(prompt: r.prompt, styles: styles, content: content, target: img(r.target), seed: seed &+ UInt64(k))
        }
    }

    /// Generates every request; writes NNN.png and sheet.png into `folder`; returns the images.
    @discardableResult
    public func run(_ requests: [Request], mode: Mode, guidance: Float, folder: String, scale: Int = 2) throws -> [RGBImage] {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let out = Tensor(zeros: [3, imageSize, imageSize])
        var sheet = ContactSheet(headers: ["style", "style 2", "content", "generated", "target"], scale: scale)
        var images: [RGBImage] = []
        for (k, r) in requests.enumerated() {
            sampler.generate(prompt: r.prompt, styles: r.styles.map(tensor), content: r.content.map(tensor), seed: r.seed,
                             guidance: guidance, into: out)
            let img = Self.image(out)
            images.append(img)
            try ImageFiles.writePNG(img, to: (folder as NSString).appendingPathComponent(String(format: "%03d.png", k)))
            let blank = RGBImage(width: imageSize, height: imageSize, fill: (235, 235, 232))
            let row = [r.styles.first ?? blank, r.styles.count > 1 ? r.styles[1] : blank, r.content ?? blank, img, r.target ?? blank]
            sheet.add(row.map { $0.width == imageSize ? $0 : $0.resized(width: imageSize, height: imageSize) },
                      caption: "\(mode.rawValue), seed \(r.seed): \(r.prompt.isEmpty ? "(empty prompt)" : r.prompt)")
        }
        try ImageFiles.writePNG(sheet.render(), to: (folder as NSString).appendingPathComponent("sheet.png"))
        return images
    }
}
