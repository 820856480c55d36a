/// Floating-point operations of a forward pass, split by kind, so that a backward's cost can
/// be derived for a given trainable set.
public struct FLOPCount: Sendable, Equatable {
    /// Dense layers (the frozen base in stage `uso`).
    public var dense: Double = 0
    /// LoRA adapters.
    public var lora: Double = 0
    /// Attention score and value products.
    public var attention: Double = 0

    public init(dense: Double = 0, lora: Double = 0, attention: Double = 0) {
        self.dense = dense; self.lora = lora; self.attention = attention
    }

    public var total: Double { dense + lora + attention }

    public static func + (a: FLOPCount, b: FLOPCount) -> FLOPCount {
        FLOPCount(dense: a.dense + b.dense, lora: a.lora + b.lora, attention: a.attention + b.attention)
    }

    /// Backward when every weight is trained: input and weight gradients of every product (2x).
    public var backwardAllTrainable: Double { 2 * total }

    /// Backward when only the adapters are trained: input gradients through the dense layers
    /// (1x), both gradients of the adapters and of attention (2x).
    public var backwardAdaptersOnly: Double { dense + 2 * lora + 2 * attention }
}
