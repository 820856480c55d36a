import Foundation
import ImageIO
import TensorCore
import Training
import TripletData
import USOModel

/// `uso eval autoencoder`: how faithfully the autoencoder gives back images it never trained
/// on, and whether its errors line up with the grids the model works on.
///
/// Every eval row's target of a set goes through encode and decode. Per image: PSNR (dB, on
/// 0-255 pixels) of the reconstruction, and for the reconstruction and the original the
/// grid step ratio at two grids, the autoencoder's patch (`factor` pixels: one latent pixel
/// each, decoded on its own) and the DiT's token (2 x `factor`): the mean absolute
/// difference between neighbouring pixels across a grid line over the same mean between
/// neighbours inside a cell. An image without grid artefacts has a ratio near its original's;
/// a decoder that paints each cell on its own pushes it up. Each mean comes with its 95%
/// bootstrap interval over images.
public struct AutoencoderEvaluation {
    public struct Result: Codable, Sendable {
        public var images: Int
        public var psnr: BootstrapMean
        /// Grid line spacing in pixels: the patch and the token.
        public var patchPixels: Int
        public var tokenPixels: Int
        public var patchRatioOriginal: BootstrapMean
        public var patchRatioReconstruction: BootstrapMean
        public var tokenRatioOriginal: BootstrapMean
        public var tokenRatioReconstruction: BootstrapMean
        /// The same ratios for other images (generations, `--images`), when given.
        public var imagesFolder: String?
        public var patchRatioImages: BootstrapMean?
        public var tokenRatioImages: BootstrapMean?
    }

    public let model: USOModel

    public init(model: USOModel) { self.model = model }

    /// Loads the autoencoder of `preset` from a weights folder (its autoencoder.safetensors).
    public static func load(preset: ModelPreset, weights: String) throws -> AutoencoderEvaluation {
        let model = try USOModel(config: preset.config)
        model.allocate(seed: 0)
        try InitialWeights.loadFolder(weights, key: "--weights", required: [.autoencoder], into: [model.registry])
        return AutoencoderEvaluation(model: model)
    }

    /// Mean |x_i - x_(i-1)| over horizontally and vertically neighbouring pixel pairs, those
    /// across a line of the `grid` against those inside a cell; image (3, S, S).
    public static func gridStepRatio(_ image: [Float], size s: Int, grid: Int) -> Double {
        var across = 0.0, inside = 0.0, nAcross = 0, nInside = 0
        for c in 0..<3 {
            let plane = c * s * s
            for y in 0..<s {
                for x in 0..<s {
                    let v = Double(image[plane + y * s + x])
                    if x > 0 {
                        let d = abs(v - Double(image[plane + y * s + x - 1]))
                        if x % grid == 0 { across += d; nAcross += 1 } else { inside += d; nInside += 1 }
                    }
                    if y > 0 {
                        let d = abs(v - Double(image[plane + (y - 1) * s + x]))
                        if y % grid == 0 { across += d; nAcross += 1 } else { inside += d; nInside += 1 }
                    }
                }
            }
        }
        let a = across / Double(max(nAcross, 1)), i = inside / Double(max(nInside, 1))
        return i > 0 ? a / i : (a > 0 ? .infinity : 1)
    }

    /// PSNR in dB of `b` against `a`, both in [-1, 1], on the 0-255 scale (both rounded to 8-bit
    /// pixels, as the originals were and as PNG stores a reconstruction); 99 when equal.
    public static func psnr(_ a: [Float], _ b: [Float]) -> Double {
        var sum = 0.0
        for i in a.indices {
            let x = min(max((Double(a[i]) + 1) * 127.5, 0), 255).rounded(), y = min(max((Double(b[i]) + 1) * 127.5, 0), 255).rounded()
            sum += (x - y) * (x - y)
        }
        let mse = sum / Double(a.count)
        return mse > 0 ? 10 * log10(255 * 255 / mse) : 99
    }

    /// The grid step ratios (patch, token) of the numbered PNG files in `folder` (`uso generate`'s
    /// 000.png, 001.png, ...; the sheet is left out), at the autoencoder's image size.
    public func gridRatios(imagesIn folder: String, seed: UInt64) throws -> (patch: BootstrapMean, token: BootstrapMean) {
        let c = model.config.autoencoder, s = c.imageSize
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
            .filter { $0.hasSuffix(".png") && $0.dropLast(4).allSatisfy(\.isNumber) }
        guard !names.isEmpty else { throw TrainingError("--images \(folder): no numbered PNG files (uso generate writes 000.png, 001.png, ...)") }
        var patch: [Double] = [], token: [Double] = []
        for name in names {
            let path = (folder as NSString).appendingPathComponent(name)
            let img = try ImageFiles.read(path)
            guard img.width == s && img.height == s else {
                throw TrainingError("--images \(path): \(img.width)x\(img.height) px, the autoencoder's grid is for \(s)x\(s)")
            }
            var x = [Float](repeating: 0, count: 3 * s * s)
            for p in 0..<(s * s) { for ch in 0..<3 { x[ch * s * s + p] = Float(img.pixels[3 * p + ch]) / 127.5 - 1 } }
            patch.append(Self.gridStepRatio(x, size: s, grid: c.factor))
            token.append(Self.gridStepRatio(x, size: s, grid: 2 * c.factor))
        }
        return (BootstrapMean(patch, seed: seed), BootstrapMean(token, seed: seed))
    }

    public func run(manifestPath: String, seed: UInt64 = 0) throws -> Result {
        let manifest = try Manifest.read(manifestPath)
        let c = model.config.autoencoder, s = c.imageSize
        guard manifest.resolution == s else {
            throw TrainingError("\(manifestPath) holds \(manifest.resolution) px images; this autoencoder takes \(s) px")
        }
        let ae = model.autoencoder, acts = ae.makeActivations()
        let latent = Tensor(zeros: [c.latentChannels * c.latentSize * c.latentSize])
        let image = Tensor(zeros: [3, s, s]), recon = Tensor(zeros: [3, s, s])
        let pixels = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: s * s * 3)
        defer { pixels.deallocate() }
        var psnr: [Double] = [], po: [Double] = [], pr: [Double] = [], to: [Double] = [], tr: [Double] = []
        for i in manifest.shards.indices {
            let reader = try manifest.openShard(i, manifestPath: manifestPath, verifyData: true)
            for j in 0..<reader.count where reader.splits[j] == .eval {
                try reader.readImage("target", index: j, into: pixels)
                for p in 0..<(s * s) { for ch in 0..<3 { image.data[ch * s * s + p] = Float(pixels[3 * p + ch]) / 127.5 - 1 } }
                ae.encode(image: image.data, latent: latent.data, acts)
                ae.decode(latent: latent.data, image: recon.data, acts)
                let a = Array(UnsafeBufferPointer(start: image.data, count: image.count))
                let b = Array(UnsafeBufferPointer(start: recon.data, count: recon.count))
                psnr.append(Self.psnr(a, b))
                po.append(Self.gridStepRatio(a, size: s, grid: c.factor)); pr.append(Self.gridStepRatio(b, size: s, grid: c.factor))
                to.append(Self.gridStepRatio(a, size: s, grid: 2 * c.factor)); tr.append(Self.gridStepRatio(b, size: s, grid: 2 * c.factor))
            }
        }
        guard !psnr.isEmpty else {
            throw TrainingError("\(manifestPath) has no eval rows: the autoencoder is scored on held-out images only (uso data synth makes them)")
        }
        return Result(images: psnr.count, psnr: BootstrapMean(psnr, seed: seed), patchPixels: c.factor, tokenPixels: 2 * c.factor,
                      patchRatioOriginal: BootstrapMean(po, seed: seed), patchRatioReconstruction: BootstrapMean(pr, seed: seed),
                      tokenRatioOriginal: BootstrapMean(to, seed: seed), tokenRatioReconstruction: BootstrapMean(tr, seed: seed))
    }
}
