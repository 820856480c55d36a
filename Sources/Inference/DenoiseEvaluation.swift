import Foundation
import ImageIO
import TensorCore
import Training
import TripletData
import USOModel

/// `uso eval denoise`: how well the trained model denoises in one step, by noise level, to
/// tell a weak model from a weak sampler.
///
/// For rows of a triplet set and each t of a list: the target is encoded, noised to
/// x_t = (1 - t) x0 + t noise (noise keyed by row and the level's index), the model predicts v under the
/// row's conditions (the mode's: text only, or subject + style), and its one-step estimate
/// x0_hat = x_t - t v_hat is decoded. Per t: the flow loss (mean (v_hat - v)^2, what training
/// lowers), PSNR of the decoded x0_hat against the target, and the same PSNR for the
/// autoencoder's own reconstruction (the ceiling no denoiser passes). Low t is the sampler's
/// last steps: a PSNR there well under the ceiling means the model, not the schedule, loses
/// the detail. Beside it, the PSNR of x_t itself decoded (no denoising at all). Eval rows are held out; train rows measure the fit and are labelled so.
public struct DenoiseEvaluation {
    /// One noise level's figures, each a mean over rows with its 95% bootstrap interval.
    public struct Level: Codable, Sendable {
        public var t: Double
        public var flowLoss: BootstrapMean
        public var psnr: BootstrapMean
        /// PSNR of x_t itself decoded: what no denoising gives (the floor x0_hat must beat).
        public var noisyPSNR: BootstrapMean
    }

    public struct Result: Codable, Sendable {
        public var split: String
        public var mode: String
        public var rows: Int
        public var reconstructionPSNR: BootstrapMean
        public var levels: [Level]
    }

    public let generation: Generation

    public init(generation: Generation) { self.generation = generation }

    /// Up to `count` of the rows, spread evenly over them.
    static func spread(_ pool: [ShardRecord], count: Int) -> [ShardRecord] {
        let n = min(count, pool.count)
        return (0..<n).map { pool[$0 * pool.count / n] }
    }

    /// The condition images `mode` keeps of `row`.
    private func conditions(_ row: ShardRecord, _ mode: Generation.Mode) -> (content: RGBImage?, style: RGBImage?) {
        let s = generation.imageSize
        let content = mode == .subject || mode == .subjectStyle || mode == .multiStyle ? row.contentReference : nil
        let style = mode != .text && mode != .subject ? row.styleReference : nil
        return (content.map { RGBImage(width: s, height: s, pixels: $0) }, style.map { RGBImage(width: s, height: s, pixels: $0) })
    }

    /// Per noise level over `count` rows; with `folder`, also denoise-sheet.png there: each row's
    /// conditions, target, reconstruction and decoded x0_hat at every t.
    public func run(manifestPath: String, split: Split, mode: Generation.Mode, count: Int, levels ts: [Float],
                    seed: UInt64, folder: String? = nil) throws -> Result {
        let model = generation.model, sampler = generation.sampler, c = model.config
        let s = generation.imageSize
        let (pool, resolution) = try Generation.rows(of: manifestPath, split: split)
        guard resolution == s else {
            throw TrainingError("\(manifestPath) holds \(resolution) px images; the model takes \(s) px")
        }
        let rows = Self.spread(pool, count: count)
        let encoder = sampler.encoder, acts = sampler.acts, ae = sampler.ae
        let n = c.noisyTokens * c.dit.inChannels, side = c.autoencoder.latentSize / 2
        let x0 = Tensor(zeros: [c.noisyTokens, c.dit.inChannels]), noise = Tensor(zeros: [c.noisyTokens, c.dit.inChannels])
        let xt = Tensor(zeros: [c.noisyTokens, c.dit.inChannels]), velocity = Tensor(zeros: [c.noisyTokens, c.dit.inChannels])
        let latent = Tensor(zeros: [c.autoencoder.latentChannels, c.autoencoder.latentSize, c.autoencoder.latentSize])
        let decoded = Tensor(zeros: [3, s, s])
        var losses = [[Double]](repeating: [], count: ts.count), psnrs = [[Double]](repeating: [], count: ts.count)
        var noisyPSNRs = [[Double]](repeating: [], count: ts.count)
        var reconstruction: [Double] = []
        let blank = RGBImage(width: s, height: s, fill: (235, 235, 232))
        var sheet = ContactSheet(headers: ["content", "style", "target", "autoenc."] + ts.map { String(format: "t=%.2f", $0) }, scale: 2)
        for (r, row) in rows.enumerated() {
            let target = generation.tensor(RGBImage(width: s, height: s, pixels: row.target))
            let want = Array(UnsafeBufferPointer(start: target.data, count: target.count))
            // Decodes packed latent tokens into `decoded` and scores them against the target.
            func decodedPSNR(_ tokens: Tensor) -> Double {
                Autoencoder.unpack(tokens.data, channels: c.autoencoder.latentChannels, size: c.autoencoder.latentSize, into: latent.data)
                model.autoencoder.decode(latent: latent.data, image: decoded.data, ae)
                return AutoencoderEvaluation.psnr(want, Array(UnsafeBufferPointer(start: decoded.data, count: decoded.count)))
            }
            encoder.encodeImage(target, into: x0)
            reconstruction.append(decodedPSNR(x0))
            let (content, style) = conditions(row, mode)
            var cells = [content ?? blank, style ?? blank, RGBImage(width: s, height: s, pixels: row.target), Generation.image(decoded)]
            let useStyle = style != nil, useContent = content != nil
            if let content { encoder.encodeImage(generation.tensor(content), into: encoder.reference) }
            if let style {
                encoder.encodeStyle(generation.tensor(style))
                sampler.features.data.update(from: encoder.styleFeatures.data, count: 3 * c.styleEncoder.tokens * c.styleEncoder.width)
            }
            let textRows = encoder.encodeText(row.prompt)
            for (k, t) in ts.enumerated() {
                var rng = RandomStream(seed: seed, purpose: .evaluation, id: UInt64(r) << 8 | UInt64(k))
                rng.fillNormal(noise.buffer)
                FlowMatching.interpolate(n, x0: x0.data, noise: noise.data, t: t, xt: xt.data, velocity: velocity.data)
                let sample = USOModel.Sample(noisy: xt, grid: (side, side), references: useContent ? encoder.reference : nil,
                                             referenceCount: useContent ? 1 : 0, referenceGrid: (side, side),
                                             styleFeatures: useStyle ? sampler.features : nil, styleCount: useStyle ? 1 : 0,
                                             text: encoder.text, textRows: textRows, pooled: encoder.pooled, t: t, guidance: 1)
                noisyPSNRs[k].append(decodedPSNR(xt))
                model.forward(sample, acts)
                var loss = 0.0
                for i in 0..<n {
                    let d = Double(acts.output.data[i] - velocity.data[i])
                    loss += d * d
                    xt.data[i] -= t * acts.output.data[i]      // x0_hat = x_t - t v_hat
                }
                losses[k].append(loss / Double(n))
                psnrs[k].append(decodedPSNR(xt))
                cells.append(Generation.image(decoded))
            }
            sheet.add(cells, caption: "\(split == .eval ? "eval" : "train") row \(row.sampleID), \(mode.rawValue): \(row.prompt)")
        }
        if let folder {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try ImageFiles.writePNG(sheet.render(), to: (folder as NSString).appendingPathComponent("denoise-sheet.png"))
        }
        let levels = ts.indices.map { Level(t: Double(ts[$0]), flowLoss: BootstrapMean(losses[$0], seed: seed), psnr: BootstrapMean(psnrs[$0], seed: seed),
                                              noisyPSNR: BootstrapMean(noisyPSNRs[$0], seed: seed)) }
        return Result(split: split == .eval ? "eval" : "train", mode: mode.rawValue, rows: rows.count,
                      reconstructionPSNR: BootstrapMean(reconstruction, seed: seed), levels: levels)
    }
}
