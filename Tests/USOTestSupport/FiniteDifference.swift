/// Central finite differences of a scalar loss with respect to the elements of a buffer.
public enum FiniteDifference {
    /// For each chosen index i of `values`, (loss(v + h e_i) - loss(v - h e_i)) / 2h.
    /// The buffer is restored after each probe. `indices` nil means every element.
    public static func gradient(of values: UnsafeMutableBufferPointer<Float>, step h: Float = 1e-2,
                                indices: [Int]? = nil, loss: () -> Double) -> [Double] {
        (indices ?? Array(values.indices)).map { i in
            let saved = values[i]
            values[i] = saved + h
            let up = loss()
            values[i] = saved - h
            let down = loss()
            values[i] = saved
            return (up - down) / (2 * Double(h))
        }
    }

    /// Up to `count` indices spread over 0..<n (all of them when n <= count).
    public static func sampleIndices(_ n: Int, count: Int = 48) -> [Int] {
        if n <= count { return Array(0..<n) }
        return (0..<count).map { $0 * n / count + ($0 * 7919) % max(1, n / count) }
    }
}

/// Deterministic test data without the model's RNG (so tests of the RNG stay independent).
public struct TestData {
    private var state: UInt64

    public init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }

    /// Uniform in [-1, 1).
    public mutating func next() -> Float {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return Float(state >> 40) / Float(1 << 23) - 1
    }

    public mutating func array(_ n: Int, scale: Float = 1) -> [Float] {
        (0..<n).map { _ in next() * scale }
    }
}
