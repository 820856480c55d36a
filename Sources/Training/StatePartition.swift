/// How the flat trainable vector (the gradients' order) is split among trainers for ZeRO-1:
/// trainer r owns elements `[total * r / parts, total * (r + 1) / parts)`, contiguous, the
/// parts back to back in rank order and differing in size by at most one element.
public struct StatePartition: Sendable, Equatable {
    public let total: Int
    public let parts: Int

    public init(total: Int, parts: Int) {
        precondition(parts >= 1 && total >= 0)
        self.total = total
        self.parts = parts
    }

    /// Trainer `r`'s elements.
    public func range(of r: Int) -> Range<Int> { (total * r / parts)..<(total * (r + 1) / parts) }

    /// Every trainer's elements of `span`, in rank order (empty where a trainer owns none of it).
    public func counts(in span: Range<Int>) -> [Int] {
        (0..<parts).map { r in span.clamped(to: range(of: r)).count }
    }
}
