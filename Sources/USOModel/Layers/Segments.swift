/// How the samples of a packed batch sit along the rows of a stream: sample b owns rows
/// `offsets[b] ..< offsets[b] + counts[b]`, one after another. Row-wise layers (Linear,
/// norms, activations) run over all `total` rows at once, as one GEMM; what is per sample
/// (adaLN modulation, gates, attention) runs per segment. Reused between steps: setting
/// new counts does not allocate.
public struct Segments: Sendable {
    public private(set) var counts: [Int] = []
    public private(set) var offsets: [Int] = []
    public private(set) var total = 0

    public init(capacity: Int) {
        counts.reserveCapacity(capacity)
        offsets.reserveCapacity(capacity)
    }

    /// The number of samples.
    public var count: Int { counts.count }

    /// Replaces the segments with `counts`, packed from row 0.
    public mutating func set<S: Sequence>(_ newCounts: S) where S.Element == Int {
        counts.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        total = 0
        for c in newCounts {
            offsets.append(total)
            counts.append(c)
            total += c
        }
    }

    /// Sample b's rows.
    public func range(_ b: Int) -> Range<Int> { offsets[b] ..< offsets[b] + counts[b] }
}
