/// The dimensions of the FLUX-layout diffusion transformer and USO's adapters on it.
public struct DiTConfig: Sendable, Codable, Equatable {
    /// Model width (3072 in FLUX.1-dev).
    public var hiddenSize: Int
    public var heads: Int
    public var mlpRatio: Int
    public var doubleBlocks: Int
    public var singleBlocks: Int
    /// RoPE dims per position axis (index, row, col); they sum to the head dim.
    public var axesDims: [Int]
    public var theta: Double
    /// Values per image token: latent channels * 2 * 2 (64 in FLUX).
    public var inChannels: Int
    /// Width of the text encoder's token states (4096, T5-XXL, in FLUX).
    public var contextDim: Int
    /// Width of the pooled text vector (768, CLIP-L, in FLUX).
    public var vecDim: Int
    /// Width of the sinusoidal timestep and guidance embeddings (256 in FLUX).
    public var timeEmbedDim: Int
    public var guidanceEmbed: Bool
    /// USO's LoRA rank (128).
    public var loraRank: Int

    public init(hiddenSize: Int, heads: Int, mlpRatio: Int = 4, doubleBlocks: Int, singleBlocks: Int,
                axesDims: [Int], theta: Double = 10000, inChannels: Int, contextDim: Int, vecDim: Int,
                timeEmbedDim: Int, guidanceEmbed: Bool = true, loraRank: Int) {
        self.hiddenSize = hiddenSize
        self.heads = heads
        self.mlpRatio = mlpRatio
        self.doubleBlocks = doubleBlocks
        self.singleBlocks = singleBlocks
        self.axesDims = axesDims
        self.theta = theta
        self.inChannels = inChannels
        self.contextDim = contextDim
        self.vecDim = vecDim
        self.timeEmbedDim = timeEmbedDim
        self.guidanceEmbed = guidanceEmbed
        self.loraRank = loraRank
    }

    public var headDim: Int { hiddenSize / heads }
    public var mlpHidden: Int { hiddenSize * mlpRatio }

    /// Checks the dimensions fit together; names the first that does not.
    public func validate() throws(ModelConfigError) {
        guard hiddenSize > 0, heads > 0, hiddenSize % heads == 0 else {
            throw ModelConfigError("hidden_size \(hiddenSize) must be a positive multiple of heads \(heads)")
        }
        guard axesDims.count == 3, axesDims.reduce(0, +) == headDim, axesDims.allSatisfy({ $0 > 0 && $0 % 2 == 0 }) else {
            throw ModelConfigError("axes_dims \(axesDims) must be three positive even numbers summing to the head dim \(headDim)")
        }
        guard loraRank > 0 else { throw ModelConfigError("lora_rank must be positive (got \(loraRank))") }
        guard timeEmbedDim > 0, timeEmbedDim % 2 == 0 else { throw ModelConfigError("time_embed_dim must be positive and even") }
    }
}

/// A model configuration that cannot be built.
public struct ModelConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
