import TensorCore
import TripletData
import USOModel

/// The frozen encoders between a loaded sample and the DiT: the autoencoder (target and
/// content reference to packed latent tokens), the style encoder (style reference to its
/// three tapped hidden states) and the text encoder (prompt to states and a pooled vector).
/// Buffers are allocated once.
public final class ConditionEncoder {
    public let model: USOModel
    let ae: Autoencoder.Activations
    let vit: VisionTransformer.Activations
    let latent: Tensor
    let styleImage: Tensor
    /// Packed tokens (tokens, inChannels) of the last `encodeImage` into each.
    public let x0: Tensor, reference: Tensor
    /// Tapped style features (1, 3, N, E) of the last `encodeStyle`.
    public let styleFeatures: Tensor
    /// Text states (maxTokens, width) and pooled vector of the last `encodeText`.
    public let text: Tensor, pooled: Tensor

    public init(model: USOModel) {
        self.model = model
        let c = model.config
        ae = model.autoencoder.makeActivations()
        vit = model.styleEncoder.makeActivations()
        latent = Tensor(zeros: [c.autoencoder.latentChannels, c.autoencoder.latentSize, c.autoencoder.latentSize])
        styleImage = Tensor(zeros: [3, c.styleEncoder.imageSize, c.styleEncoder.imageSize])
        x0 = Tensor(zeros: [c.noisyTokens, c.dit.inChannels])
        reference = Tensor(zeros: [c.referenceTokens, c.dit.inChannels])
        styleFeatures = Tensor(zeros: [1, 3, c.styleEncoder.tokens, c.styleEncoder.width])
        text = Tensor(zeros: [c.text.maxTokens, c.text.width])
        pooled = Tensor(zeros: [c.text.pooledWidth])
    }

    /// image (3, S, S) in [-1, 1] -> packed latent tokens.
    public func encodeImage(_ image: Tensor, into tokens: Tensor) {
        model.autoencoder.encode(image: image.data, latent: latent.data, ae)
        model.autoencoder.pack(latent: latent.data, tokens: tokens.data)
    }

    /// Style reference (3, S, S) -> the encoder's taps, high first (resized by nearest
    /// sampling when the encoder's input size differs from the data's).
    public func encodeStyle(_ image: Tensor) {
        let c = model.config.styleEncoder
        let from = image.shape[1], to = c.imageSize
        var input = image
        if from != to {
            for ch in 0..<3 {
                for y in 0..<to {
                    for x in 0..<to {
                        styleImage.data[(ch * to + y) * to + x] = image.data[(ch * from + y * from / to) * from + x * from / to]
                    }
                }
            }
            input = styleImage
        }
        model.styleEncoder.forward(image: input.data, vit)
        let per = c.tokens * c.width
        for (level, layer) in c.taps.enumerated() {
            (styleFeatures.data + level * per).update(from: vit.layerOutput(layer), count: per)
        }
    }

    /// Prompt -> text states and pooled vector; returns the number of states.
    @discardableResult
    public func encodeText(_ prompt: String) -> Int {
        model.textEncoder.encode(prompt, states: text.data, pooled: pooled.data)
    }
}
