import Training
import Foundation
import TensorCore
import USOModel

/// USO's inference: Euler steps of the flow from t = 1 (noise) to t = 0, x <- x + (t_next -
/// t) v, on FLUX's shifted schedule (mu from the image's token count), then the
/// autoencoder's decoder. Conditions: text, any number of style images up to the model's
/// limit, and an optional content reference.
public final class Sampler {
    public let model: USOModel
    let encoder: ConditionEncoder
    let acts: USOModel.Activations
    let ae: Autoencoder.Activations
    let x: Tensor, latent: Tensor
    let features: Tensor
    public let steps: Int

    public init(model: USOModel, steps: Int = 25) {
        self.model = model
        self.steps = steps
        encoder = ConditionEncoder(model: model)
        acts = model.makeActivations()
        ae = model.autoencoder.makeActivations()
        let c = model.config
        x = Tensor(zeros: [c.noisyTokens, c.dit.inChannels])
        latent = Tensor(zeros: [c.autoencoder.latentChannels, c.autoencoder.latentSize, c.autoencoder.latentSize])
        features = Tensor(zeros: [max(1, c.maxStyleImages), 3, c.styleEncoder.tokens, c.styleEncoder.width])
    }

    /// The t values of the schedule, from 1 down to 0 (steps + 1 of them).
    public func schedule() -> [Float] {
        let tokens = model.config.noisyTokens
        return (0...steps).map { i -> Float in
            let t = 1 - Double(i) / Double(steps)
            return t <= 0 ? 0 : Float(FlowMatching.shift(t, tokens: tokens))
        }
    }

    /// Generates one image (3, S, S) in [-1, 1] into `image`. Style images and the content
    /// reference are (3, S, S) in [-1, 1]; `seed` keys the starting noise.
    public func generate(prompt: String, styles: [Tensor], content: Tensor?, seed: UInt64, guidance: Float = 1,
                         into image: Tensor) {
        let c = model.config
        precondition(styles.count <= c.maxStyleImages, "at most \(c.maxStyleImages) style images")
        let side = c.autoencoder.latentSize / 2
        var rng = RandomStream(seed: seed, purpose: .evaluation, id: 0)
        rng.fillNormal(x.buffer)
        if let content { encoder.encodeImage(content, into: encoder.reference) }
        let per = 3 * c.styleEncoder.tokens * c.styleEncoder.width
        for (k, s) in styles.enumerated() {
            encoder.encodeStyle(s)
            (features.data + k * per).update(from: encoder.styleFeatures.data, count: per)
        }
        let rows = encoder.encodeText(prompt)
        let ts = schedule()
        for i in 0..<steps {
            let sample = USOModel.Sample(noisy: x, grid: (side, side), references: content != nil ? encoder.reference : nil,
                                         referenceCount: content != nil ? 1 : 0, referenceGrid: (side, side),
                                         styleFeatures: styles.isEmpty ? nil : features, styleCount: styles.count,
                                         text: encoder.text, textRows: rows, pooled: encoder.pooled, t: ts[i], guidance: guidance)
            model.forward(sample, acts)
            ElementwiseKernels.axpy(x.count, ts[i + 1] - ts[i], acts.output.data, x.data)
        }
        Autoencoder.unpack(x.data, channels: c.autoencoder.latentChannels, size: c.autoencoder.latentSize, into: latent.data)
        model.autoencoder.decode(latent: latent.data, image: image.data, ae)
    }
}
