import Foundation
import TensorCore
import TripletData
import USOModel

/// `uso bench loader`: how long training waits for data. A consumer does a training step's
/// compute per sample (frozen encoders, then the DiT's forward and backward at the preset)
/// while the loader prefetches the next steps on its thread; the share of step time spent
/// waiting is the figure. Beside it, in the same run, the time the same steps take to load
/// with no compute to hide behind (what every step would wait without prefetching).
public struct LoaderBenchmark {
    public struct Result: Codable, Sendable {
        public var steps: Int
        public var samplesPerStep: Int
        public var stepSeconds: Double
        public var waitSeconds: Double
        public var waitFraction: Double
        public var loadOnlySeconds: Double
    }

    public let manifestPath: String
    public let preset: ModelPreset
    public let globalBatch: Int
    public let steps: Int

    public init(manifestPath: String, preset: ModelPreset, globalBatch: Int, steps: Int) {
        self.manifestPath = manifestPath; self.preset = preset; self.globalBatch = globalBatch; self.steps = steps
    }

    public func run() throws -> Result {
        let c = preset.config
        let index = try SampleIndex(manifestPath: manifestPath)
        guard index.manifest.resolution == c.autoencoder.imageSize else {
            throw TripletDataError(file: manifestPath, "images are \(index.manifest.resolution) px; preset \(c.name) takes \(c.autoencoder.imageSize) px")
        }
        let plan = ShardPlan(seed: 1, count: index.count, globalBatch: globalBatch)
        let model = try USOModel(config: c)
        let store = model.allocate(seed: 1)
        store.allocateGradients { $0.group == .lora || $0.group == .projector }
        let acts = model.makeActivations()
        let ae = model.autoencoder.makeActivations(), vit = model.styleEncoder.makeActivations()
        let tokens = c.noisyTokens, inC = c.dit.inChannels, side = c.autoencoder.latentSize / 2
        let latent = Tensor(zeros: [c.autoencoder.latentChannels, c.autoencoder.latentSize, c.autoencoder.latentSize])
        let noisy = Tensor(zeros: [tokens, inC]), reference = Tensor(zeros: [tokens, inC]), dv = Tensor(zeros: [tokens, inC])
        let featureCount = 3 * c.styleEncoder.tokens * c.styleEncoder.width
        let features = Tensor(zeros: [featureCount])
        let text = Tensor(zeros: [c.text.maxTokens, c.text.width]), pooled = Tensor(zeros: [c.text.pooledWidth])
        let styleImage = Tensor(zeros: [3, c.styleEncoder.imageSize, c.styleEncoder.imageSize])

        func trainStep(_ s: LoadedSample) {
            model.autoencoder.encode(image: s.target.data, latent: latent.data, ae)
            model.autoencoder.pack(latent: latent.data, tokens: noisy.data)
            if s.hasContentReference {
                model.autoencoder.encode(image: s.contentReference.data, latent: latent.data, ae)
                model.autoencoder.pack(latent: latent.data, tokens: reference.data)
            }
            if s.hasStyleReference {
                // The style encoder's input is the reference at its own size (nearest sample).
                let from = c.autoencoder.imageSize, to = c.styleEncoder.imageSize
                for ch in 0..<3 { for y in 0..<to { for x in 0..<to {
                    styleImage.data[(ch * to + y) * to + x] = s.styleReference.data[(ch * from + y * from / to) * from + x * from / to]
                } } }
                model.styleEncoder.forward(image: styleImage.data, vit)
                for (level, layer) in c.styleEncoder.taps.enumerated() {
                    (features.data + level * featureCount / 3).update(from: vit.layerOutput(layer), count: featureCount / 3)
                }
            }
            let rows = model.textEncoder.encode(s.prompt, states: text.data, pooled: pooled.data)
            let sample = USOModel.Sample(noisy: noisy, grid: (side, side),
                                         references: s.hasContentReference ? reference : nil,
                                         referenceCount: s.hasContentReference ? 1 : 0, referenceGrid: (side, side),
                                         styleFeatures: s.hasStyleReference ? features : nil,
                                         styleCount: s.hasStyleReference ? 1 : 0, text: text, textRows: rows,
                                         pooled: pooled, t: 0.5)
            model.forward(sample, acts)
            dv.copy(from: acts.output.rows(0..<tokens))
            model.backward(dOutput: dv.data, acts)
        }

        // A: loading alone, no compute to hide behind.
        let alone = DataLoader(index: index, plan: plan, trainer: 0, trainers: 1, seed: 1, depth: 1)
        alone.start()
        let t0 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<steps { _ = try alone.next() }
        let loadOnly = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 / Double(steps)
        alone.stop()
        // B: prefetching behind the compute.
        let loader = DataLoader(index: index, plan: plan, trainer: 0, trainers: 1, seed: 1, depth: 2)
        loader.start()
        _ = try loader.next()   // the first step cannot be hidden; leave it out
        let waitBefore = loader.waitSeconds
        let t1 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<steps {
            let batch = try loader.next()
            for s in batch.samples { trainStep(s) }
        }
        let total = Double(DispatchTime.now().uptimeNanoseconds - t1) * 1e-9
        let wait = loader.waitSeconds - waitBefore
        loader.stop()
        return Result(steps: steps, samplesPerStep: globalBatch, stepSeconds: total / Double(steps), waitSeconds: wait / Double(steps),
                      waitFraction: wait / total, loadOnlySeconds: loadOnly)
    }
}
