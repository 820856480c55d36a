/// The dimensions of every part of a USO model: the DiT, the projector, the encoders, and
/// how many conditions a sample may carry.
public struct ModelConfig: Sendable, Codable, Equatable {
    public var name: String
    public var dit: DiTConfig
    public var autoencoder: AutoencoderConfig
    public var styleEncoder: ViTConfig
    /// Style tokens per level from the projector (USO: 64, so 192 per style image).
    public var projectorTokens: Int
    public var text: TextEncoderConfig
    /// The CSD reward model's backbone and style embedding width (768 in CSD).
    public var csd: ViTConfig
    public var csdEmbedding: Int
    /// Largest number of style images and content references one sample may carry.
    public var maxStyleImages: Int
    public var maxReferences: Int

    /// Noisy latent tokens per sample.
    public var noisyTokens: Int { autoencoder.tokens }
    /// Reference tokens per content reference (references are at the target's resolution here).
    public var referenceTokens: Int { autoencoder.tokens }
    public var styleTokensPerImage: Int { 3 * projectorTokens }

    /// The largest image stream and text stream of a sample.
    public var maxImageTokens: Int { noisyTokens + maxReferences * referenceTokens }
    public var maxTextTokens: Int { maxStyleImages * styleTokensPerImage + text.maxTokens }

    public func validate() throws(ModelConfigError) {
        try dit.validate()
        guard dit.inChannels == autoencoder.tokenWidth else {
            throw ModelConfigError("dit.in_channels \(dit.inChannels) must equal 4 x latent channels (\(autoencoder.tokenWidth))")
        }
        guard autoencoder.imageSize % (2 * autoencoder.factor) == 0 else {
            throw ModelConfigError("image size \(autoencoder.imageSize) must be a multiple of 2 x the autoencoder factor")
        }
        guard dit.contextDim == text.width, dit.vecDim == text.pooledWidth else {
            throw ModelConfigError("the text encoder's widths (\(text.width), \(text.pooledWidth)) must match the DiT's context and vec dims")
        }
        for (name, v) in [("style encoder", styleEncoder), ("csd", csd)] {
            guard v.imageSize % v.patchSize == 0, v.width % v.heads == 0 else {
                throw ModelConfigError("\(name): image size must be a multiple of the patch size and width of the heads")
            }
        }
        guard styleEncoder.taps.count == 3, styleEncoder.taps.allSatisfy({ $0 >= 0 && $0 < styleEncoder.depth }) else {
            throw ModelConfigError("the style encoder needs three taps in 0 ..< depth (got \(styleEncoder.taps))")
        }
    }
}

/// The named model sizes.
public enum ModelPreset: String, Sendable, CaseIterable {
    /// Unit tests: every part at toy size, seconds per test.
    case tiny
    /// The demo and benchmarks: minutes of training on 2 cores.
    case small
    /// FLUX.1-dev dimensions with USO's LoRA rank 128 and SigLIP so400m's style path: for
    /// shapes, key names, memory planning and communication at real gradient sizes.
    case fluxDev = "flux-dev"

    public var config: ModelConfig {
        switch self {
        case .tiny:
            return ModelConfig(
                name: rawValue,
                dit: DiTConfig(hiddenSize: 32, heads: 2, doubleBlocks: 2, singleBlocks: 2, axesDims: [4, 6, 6],
                               inChannels: 16, contextDim: 24, vecDim: 16, timeEmbedDim: 32, loraRank: 4),
                autoencoder: AutoencoderConfig(imageSize: 32, factor: 4, latentChannels: 4, decoderHidden: 32),
                styleEncoder: ViTConfig(imageSize: 32, patchSize: 8, width: 24, depth: 5, heads: 2, taps: [3, 2, 0]),
                projectorTokens: 4,
                text: TextEncoderConfig(maxTokens: 12, width: 24, pooledWidth: 16),
                csd: ViTConfig(imageSize: 32, patchSize: 8, width: 24, depth: 2, heads: 2, taps: []),
                csdEmbedding: 16, maxStyleImages: 2, maxReferences: 1)
        case .small:
            return ModelConfig(
                name: rawValue,
                dit: DiTConfig(hiddenSize: 128, heads: 4, doubleBlocks: 4, singleBlocks: 8, axesDims: [8, 12, 12],
                               inChannels: 32, contextDim: 64, vecDim: 32, timeEmbedDim: 64, loraRank: 16),
                autoencoder: AutoencoderConfig(imageSize: 64, factor: 4, latentChannels: 8, decoderHidden: 128),
                styleEncoder: ViTConfig(imageSize: 64, patchSize: 8, width: 64, depth: 8, heads: 4, taps: [6, 4, 1]),
                projectorTokens: 16,
                text: TextEncoderConfig(maxTokens: 24, width: 64, pooledWidth: 32),
                csd: ViTConfig(imageSize: 64, patchSize: 8, width: 64, depth: 4, heads: 4, taps: []),
                csdEmbedding: 64, maxStyleImages: 2, maxReferences: 1)
        case .fluxDev:
            return ModelConfig(
                name: rawValue,
                dit: DiTConfig(hiddenSize: 3072, heads: 24, doubleBlocks: 19, singleBlocks: 38, axesDims: [16, 56, 56],
                               inChannels: 64, contextDim: 4096, vecDim: 768, timeEmbedDim: 256, loraRank: 128),
                autoencoder: AutoencoderConfig(imageSize: 1024, factor: 8, latentChannels: 16, decoderHidden: 512,
                                               scale: 0.3611, shift: 0.1159),
                styleEncoder: ViTConfig(imageSize: 378, patchSize: 14, width: 1152, depth: 27, heads: 16, taps: [25, 16, 7]),
                projectorTokens: 64,
                text: TextEncoderConfig(maxTokens: 512, width: 4096, pooledWidth: 768, vocabularySize: 32128),
                csd: ViTConfig(imageSize: 224, patchSize: 14, width: 1024, depth: 24, heads: 16, taps: []),
                csdEmbedding: 768, maxStyleImages: 1, maxReferences: 1)
        }
    }
}
