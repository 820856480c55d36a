import TensorCore

/// The whole USO generator: the DiT with LoRA, the hierarchical projector, and the frozen
/// encoders (style encoder, autoencoder, text encoder).
///
/// Building a model registers its parameters without allocating them (so `uso model info`
/// can describe FLUX-size models); `allocate(seed:)` gives them memory and initial values.
public final class USOModel {
    public let config: ModelConfig
    public let registry = ParameterRegistry()
    public let dit: DiT
    public let projector: HierarchicalProjector
    public let styleEncoder: VisionTransformer
    public let autoencoder: Autoencoder
    public let textEncoder: TextEncoder
    public private(set) var store: ParameterStore?

    /// Registers every part of the model. `zeroInitOutput`: see `DiT.init`.
    public init(config: ModelConfig, zeroInitOutput: Bool = false) throws(ModelConfigError) {
        try config.validate()
        self.config = config
        dit = DiT(registry, config: config.dit, zeroInitOutput: zeroInitOutput)
        projector = HierarchicalProjector(registry, encoderTokens: config.styleEncoder.tokens, outTokens: config.projectorTokens,
                                          encoderWidth: config.styleEncoder.width, modelWidth: config.dit.hiddenSize)
        styleEncoder = VisionTransformer(registry, prefix: "style_encoder", config: config.styleEncoder, group: .styleEncoder)
        autoencoder = Autoencoder(registry, config: config.autoencoder)
        textEncoder = TextEncoder(registry, config: config.text)
    }

    /// Allocates and initialises every parameter from `seed`.
    @discardableResult
    public func allocate(seed: UInt64) -> ParameterStore {
        let s = ParameterStore(registry, seed: seed)
        store = s
        return s
    }

    /// One sample's conditions after the frozen encoders. It holds the tensors themselves,
    /// not pointers into them, and the activations hold the samples of their forward until
    /// the next one, so the memory the model reads (in forward and, for the text, in
    /// backward) cannot be freed under it, however early an optimised build releases a
    /// caller's local.
    public struct Sample {
        /// Noisy latent tokens (grid.rows * grid.cols, inChannels) and their token grid.
        public var noisy: Tensor
        public var grid: (rows: Int, cols: Int)
        /// Content references (count, tokens, inChannels), each on `referenceGrid`.
        public var references: Tensor?
        public var referenceCount: Int
        public var referenceGrid: (rows: Int, cols: Int)
        /// Tapped style features (count, 3, N, E), levels high, mid, low.
        public var styleFeatures: Tensor?
        public var styleCount: Int
        /// Text states (textRows, contextDim) and pooled vector.
        public var text: Tensor
        public var textRows: Int
        public var pooled: Tensor
        public var t: Float
        public var guidance: Float

        public init(noisy: Tensor, grid: (rows: Int, cols: Int), references: Tensor?,
                    referenceCount: Int, referenceGrid: (rows: Int, cols: Int), styleFeatures: Tensor?,
                    styleCount: Int, text: Tensor, textRows: Int, pooled: Tensor,
                    t: Float, guidance: Float = 1) {
            self.noisy = noisy; self.grid = grid; self.references = references; self.referenceCount = referenceCount
            self.referenceGrid = referenceGrid; self.styleFeatures = styleFeatures; self.styleCount = styleCount
            self.text = text; self.textRows = textRows; self.pooled = pooled; self.t = t; self.guidance = guidance
        }

        var noisyRows: Int { grid.rows * grid.cols }
        var referenceRows: Int { referenceCount * referenceGrid.rows * referenceGrid.cols }
    }

    /// What one forward of up to `samples` samples keeps for its backward.
    public final class Activations {
        public let dit: DiT.Activations
        /// One projector state per sample.
        public let projector: [HierarchicalProjector.Activations]
        /// The samples' image stream inputs [noisy; references], each at imageCap rows.
        public let imageTokens: Tensor
        /// The projector's outputs, each sample's at styleCap rows.
        public let styleTokens: Tensor
        /// Position ids of the last forward, each sample's at cap rows, stream order [style; text; noisy; references].
        public let positionIds: Tensor
        public let samples: Int
        var styleCounts: [Int]
        let imageCapacity: Int, styleCapacity: Int, idCapacity: Int
        /// Reused between forwards (no allocation per step).
        var inputs: [DiT.Inputs] = []
        /// The samples of the last forward: the owners of the memory `inputs` point into.
        var held: [Sample] = []
        var one: [Sample] = []

        init(_ m: USOModel, samples: Int, sharedScratch: Bool) {
            let c = m.config
            self.samples = samples
            imageCapacity = c.maxImageTokens
            styleCapacity = max(1, c.maxStyleImages * c.styleTokensPerImage)
            idCapacity = c.maxImageTokens + c.maxTextTokens
            dit = m.dit.makeActivations(imageTokens: c.maxImageTokens, textTokens: c.maxTextTokens, samples: samples,
                                        sharedScratch: sharedScratch)
            projector = (0..<samples).map { _ in m.projector.makeActivations(images: c.maxStyleImages) }
            imageTokens = Tensor(zeros: [samples * imageCapacity, c.dit.inChannels])
            styleTokens = Tensor(zeros: [samples * styleCapacity, c.dit.hiddenSize])
            positionIds = Tensor(zeros: [samples * idCapacity, 3])
            styleCounts = [Int](repeating: 0, count: samples)
            inputs.reserveCapacity(samples)
            one.reserveCapacity(1)
        }

        /// v_hat of the last forward, packed (sample b's rows from `dit.outputOffset(b)`).
        public var output: Tensor { dit.output }

        /// Sample b's v_hat (noisy tokens, inChannels) of the last forward.
        public func output(_ b: Int) -> UnsafeMutablePointer<Float> {
            dit.output.data + dit.outputOffset(b) * dit.output.shape[1]
        }
    }

    /// Activations for forwards of up to `samples` samples at once (`sharedScratch`: see
    /// `DiT.makeActivations`).
    public func makeActivations(samples: Int = 1, sharedScratch: Bool = true) -> Activations {
        Activations(self, samples: samples, sharedScratch: sharedScratch)
    }

    /// UnoPE position ids, written to `ids` (rows, 3): style and text tokens (0, 0, 0); noisy
    /// token (i, j) at (0, i, j); reference k's token (i, j) at (0, i + offH, j + offW), where
    /// the first reference's offsets are the target's token height and width and each further
    /// reference adds its own (the diagonal layout). Returns the number of rows written.
    @discardableResult
    public static func writePositionIds(styleRows: Int, textRows: Int, grid: (rows: Int, cols: Int), referenceCount: Int,
                                        referenceGrid: (rows: Int, cols: Int), into ids: UnsafeMutablePointer<Float>) -> Int {
        var row = 0
        func put(_ a: Int, _ b: Int, _ c: Int) {
            ids[3 * row] = Float(a); ids[3 * row + 1] = Float(b); ids[3 * row + 2] = Float(c)
            row += 1
        }
        for _ in 0..<(styleRows + textRows) { put(0, 0, 0) }
        for i in 0..<grid.rows { for j in 0..<grid.cols { put(0, i, j) } }
        var offH = grid.rows, offW = grid.cols
        for _ in 0..<referenceCount {
            for i in 0..<referenceGrid.rows { for j in 0..<referenceGrid.cols { put(0, i + offH, j + offW) } }
            offH += referenceGrid.rows
            offW += referenceGrid.cols
        }
        return row
    }

    /// Predicts v for the noisy tokens into `a.output`.
    public func forward(_ s: Sample, _ a: Activations) {
        a.one.removeAll(keepingCapacity: true)
        a.one.append(s)
        forward(batch: a.one, a)
    }

    /// Predicts v for every sample of `batch` into `a.output`, packed (`a.output(b)`): the
    /// samples go through each layer of the DiT together (see `DiT.forward(batch:)`).
    public func forward(batch: [Sample], _ a: Activations) {
        let c = config, inC = c.dit.inChannels, d = c.dit.hiddenSize
        precondition(batch.count <= a.samples, "a batch of \(batch.count) samples, activations for \(a.samples)")
        a.inputs.removeAll(keepingCapacity: true)
        a.held.removeAll(keepingCapacity: true)
        a.held.append(contentsOf: batch)   // what the DiT inputs point into, alive until the next forward
        for (b, s) in batch.enumerated() {
            precondition(s.noisy.count >= s.noisyRows * inC && (s.referenceRows == 0 || (s.references?.count ?? 0) >= s.referenceRows * inC),
                         "sample tensors smaller than their grids")
            precondition(s.styleCount <= c.maxStyleImages && s.referenceCount <= c.maxReferences,
                         "sample with \(s.styleCount) style images and \(s.referenceCount) references exceeds the model's limits")
            let image = a.imageTokens.data + b * a.imageCapacity * inC
            image.update(from: s.noisy.data, count: s.noisyRows * inC)
            if s.referenceRows > 0, let references = s.references { (image + s.noisyRows * inC).update(from: references.data, count: s.referenceRows * inC) }
            a.styleCounts[b] = s.styleCount
            let style = a.styleTokens.data + b * a.styleCapacity * d
            if s.styleCount > 0, let features = s.styleFeatures {
                projector.forward(features: features.data, images: s.styleCount, out: style, a.projector[b])
            }
            let styleRows = s.styleCount * c.styleTokensPerImage
            let ids = a.positionIds.data + b * a.idCapacity * 3
            USOModel.writePositionIds(styleRows: styleRows, textRows: s.textRows, grid: s.grid, referenceCount: s.referenceCount,
                                      referenceGrid: s.referenceGrid, into: ids)
            a.inputs.append(DiT.Inputs(imageTokens: image, noisyRows: s.noisyRows, referenceRows: s.referenceRows,
                                     styleTokens: styleRows > 0 ? UnsafePointer(style) : nil, styleRows: styleRows,
                                     text: s.text.data, textRows: s.textRows, pooled: s.pooled.data, positionIds: ids, t: s.t, guidance: s.guidance))
        }
        dit.forward(batch: a.inputs, a.dit)
    }

    /// Accumulates parameter gradients (where allocated) from dv_hat (packed as `a.output`).
    /// `milestone` is called as parts' gradients become final: the DiT's milestones, then
    /// `milestoneCount - 1` after the projector.
    public func backward(dOutput: UnsafePointer<Float>, _ a: Activations, milestone: ((Int) -> Void)? = nil) {
        dit.backward(dOutput: dOutput, a.dit, milestone: milestone)
        let d = config.dit.hiddenSize
        for b in 0..<a.dit.textSegments.count where a.styleCounts[b] > 0 {
            projector.backward(dOut: a.dit.styleGradient.data + a.dit.textSegments.offsets[b] * d, a.projector[b])
        }
        milestone?(milestoneCount - 1)
    }

    /// Backward milestones: the DiT's, then the projector.
    public var milestoneCount: Int { dit.milestoneCount + 1 }

    /// The milestone at which parameter `name`'s gradient is final.
    public func milestone(of name: String) -> Int {
        name.hasPrefix("feature_embedder.") ? milestoneCount - 1 : dit.milestone(of: name)
    }
}
