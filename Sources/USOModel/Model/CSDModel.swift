import TensorCore

/// The CSD style model of the built-in world: a vision transformer, mean-pooled after its
/// final LayerNorm, and a style head (Linear width -> embedding) whose output is L2-normalised.
/// Style similarity is the cosine of two embeddings. Trained in stage `csd` with a
/// supervised-contrastive loss over style labels; frozen while it serves rewards.
public final class CSDModel {
    public let config: ViTConfig
    public let embedding: Int
    public let registry = ParameterRegistry()
    public let backbone: VisionTransformer
    let head: Linear
    public private(set) var store: ParameterStore?

    public init(config: ModelConfig) {
        self.config = config.csd
        embedding = config.csdEmbedding
        backbone = VisionTransformer(registry, prefix: "csd.backbone", config: config.csd, group: .csd)
        head = Linear(registry, "csd.style_head", in: config.csd.width, out: config.csdEmbedding, group: .csd)
    }

    @discardableResult
    public func allocate(seed: UInt64) -> ParameterStore {
        let s = ParameterStore(registry, seed: seed)
        store = s
        return s
    }

    /// One image's saved values.
    public final class Activations {
        public let backbone: VisionTransformer.Activations
        let raw: Tensor, dRaw: Tensor, dPooled: Tensor   // (embedding), (embedding), (width)
        /// The L2-normalised style embedding of the last forward.
        public let embedding: Tensor
        var norm: Float = 1
        init(_ m: CSDModel) {
            backbone = m.backbone.makeActivations()
            raw = Tensor(zeros: [m.embedding]); dRaw = Tensor(zeros: [m.embedding]); dPooled = Tensor(zeros: [m.config.width])
            embedding = Tensor(zeros: [m.embedding])
        }
    }

    public func makeActivations() -> Activations { Activations(self) }

    /// The style embedding of image (3, S, S) in [-1, 1], into `a.embedding`.
    public func forward(image: UnsafePointer<Float>, _ a: Activations) {
        backbone.forward(image: image, a.backbone)
        head.forward(a.backbone.pooled.data, rows: 1, a.raw.data, cache: nil)
        let n = ElementwiseKernels.sumOfSquares(embedding, a.raw.data).squareRoot()
        a.norm = Float(max(n, 1e-12))
        ElementwiseKernels.scale(embedding, a.raw.data, by: 1 / a.norm, into: a.embedding.data)
    }

    /// Backward from dEmbedding (the gradient at the normalised embedding): parameter
    /// gradients where allocated, and the image gradient accumulated into `dImage` if given.
    public func backward(dEmbedding: UnsafePointer<Float>, dImage: UnsafeMutablePointer<Float>?, _ a: Activations) {
        // e = r / |r|: dr = (de - e (e . de)) / |r|
        let e = a.embedding.data
        let dot = Float(ElementwiseKernels.dot(embedding, e, dEmbedding))
        for i in 0..<embedding { a.dRaw.data[i] = (dEmbedding[i] - e[i] * dot) / a.norm }
        a.dPooled.fill(0)
        head.backward(a.backbone.pooled.data, rows: 1, dy: a.dRaw.data, dx: a.dPooled.data, cache: nil)
        backbone.backward(dPooled: a.dPooled.data, dImage: dImage, a.backbone)
    }
}
