import TensorCore

/// A mean with its 95% bootstrap interval: the 2.5th and 97.5th percentiles of the means of
/// `resamples` resamples (with replacement, keyed by RandomStream(seed, .evaluation, 0), so
/// the same values always give the same interval). For the evaluations' per-item scores.
public struct BootstrapMean: Codable, Sendable, Equatable, CustomStringConvertible {
    public let mean: Double
    public let low: Double
    public let high: Double
    public let count: Int

    public init(_ values: [Double], resamples: Int = 2000, seed: UInt64 = 0) {
        precondition(resamples >= 1, "a bootstrap needs resamples")
        count = values.count
        guard !values.isEmpty else { mean = .nan; low = .nan; high = .nan; return }
        let n = values.count
        mean = values.reduce(0, +) / Double(n)
        var rng = RandomStream(seed: seed, purpose: .evaluation, id: 0)
        var means = [Double](repeating: 0, count: resamples)
        for r in 0..<resamples {
            var sum = 0.0
            for _ in 0..<n { sum += values[rng.nextInt(below: n)] }
            means[r] = sum / Double(n)
        }
        means.sort()
        func percentile(_ q: Double) -> Double { means[min(resamples - 1, max(0, Int((q * Double(resamples)).rounded(.down))))] }
        low = percentile(0.025)
        high = percentile(0.975)
    }

    /// "0.812 [0.774, 0.851]".
    public var description: String { formatted(digits: 3) }

    public func formatted(digits: Int) -> String {
        func f(_ x: Double) -> String { String(format: "%.\(digits)f", x) }
        return "\(f(mean)) [\(f(low)), \(f(high))]"
    }
}
