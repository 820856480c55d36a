import Foundation

/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011):
/// a counter-based generator. Output is a pure function of (counter, key), so any element
/// of any stream can be drawn without drawing the ones before it.
public enum Philox4x32 {
    @usableFromInline static let m0: UInt32 = 0xD251_1F53
    @usableFromInline static let m1: UInt32 = 0xCD9E_8D57
    @usableFromInline static let w0: UInt32 = 0x9E37_79B9
    @usableFromInline static let w1: UInt32 = 0xBB67_AE85

    /// Ten rounds on `counter` under `key`.
    @inlinable
    public static func block(_ counter: (UInt32, UInt32, UInt32, UInt32), key: (UInt32, UInt32)) -> (UInt32, UInt32, UInt32, UInt32) {
        var c = counter
        var k = key
        for round in 0..<10 {
            if round > 0 {
                k.0 &+= w0
                k.1 &+= w1
            }
            let p0 = UInt64(m0) * UInt64(c.0)
            let p1 = UInt64(m1) * UInt64(c.2)
            let hi0 = UInt32(truncatingIfNeeded: p0 >> 32), lo0 = UInt32(truncatingIfNeeded: p0)
            let hi1 = UInt32(truncatingIfNeeded: p1 >> 32), lo1 = UInt32(truncatingIfNeeded: p1)
            c = (hi1 ^ c.1 ^ k.0, lo1, hi0 ^ c.3 ^ k.1, lo0)
        }
        return c
    }
}

/// What a random stream is for: part of its key, so streams for different purposes never overlap.
public enum RandomPurpose: UInt16, Sendable, CaseIterable {
    case parameterInit = 1
    case noise = 2
    case timestep = 3
    case conditionDropout = 4
    case shuffle = 5
    case promptDropout = 6
    case synthesis = 7
    case evaluation = 8
}

/// A random stream keyed by (seed, purpose, id): the same key always gives the same
/// numbers, on any rank and at any world size, which is what makes one rank with M
/// micro-batches and M ranks with one each compute the same thing.
///
/// Element i of the stream comes from Philox block i / 4 (uniforms) with counter
/// (block low, block high, id low, purpose << 16 | id bits 32-47).
public struct RandomStream: Sendable {
    public let seed: UInt64
    public let purpose: RandomPurpose
    public let id: UInt64
    /// The next block to draw.
    public private(set) var block: UInt64 = 0
    private var pending: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
    private var pendingCount = 0
    private var spareNormal: Float?

    public init(seed: UInt64, purpose: RandomPurpose, id: UInt64) {
        precondition(id < (1 << 48), "random stream ids are 48-bit (got \(id))")
        self.seed = seed
        self.purpose = purpose
        self.id = id
    }

    /// The stream's four words at `block`, without advancing.
    public func words(atBlock block: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
        let counter = (UInt32(truncatingIfNeeded: block), UInt32(truncatingIfNeeded: block >> 32),
                       UInt32(truncatingIfNeeded: id),
                       UInt32(purpose.rawValue) << 16 | UInt32(truncatingIfNeeded: id >> 32))
        return Philox4x32.block(counter, key: (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32)))
    }

    /// The next 32 random bits.
    public mutating func nextUInt32() -> UInt32 {
        if pendingCount == 0 {
            pending = words(atBlock: block)
            block += 1
            pendingCount = 4
        }
        pendingCount -= 1
        switch pendingCount {
        case 3: return pending.0
        case 2: return pending.1
        case 1: return pending.2
        default: return pending.3
        }
    }

    /// Uniform in [0, 1), 24 bits of resolution.
    public mutating func nextUniform() -> Float {
        Float(nextUInt32() >> 8) * 0x1p-24
    }

    /// Uniform in (0, 1].
    mutating func nextUniformOpenZero() -> Float {
        Float((nextUInt32() >> 8) + 1) * 0x1p-24
    }

    /// Standard normal (Box-Muller, computed in Double; pairs are used in turn).
    public mutating func nextNormal() -> Float {
        if let s = spareNormal {
            spareNormal = nil
            return s
        }
        let u1 = Double(nextUniformOpenZero())
        let u2 = Double(nextUniform())
        let r = (-2 * log(u1)).squareRoot()
        let theta = 2 * Double.pi * u2
        spareNormal = Float(r * sin(theta))
        return Float(r * cos(theta))
    }

    /// A uniform integer in 0..<bound (unbiased, by rejection).
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0 && bound <= Int(UInt32.max), "bound \(bound) out of range")
        let b = UInt32(bound)
        let limit = UInt32.max - UInt32.max % b
        while true {
            let x = nextUInt32()
            if x < limit { return Int(x % b) }
        }
    }

    /// Fills `buffer` with normal(0, std).
    public mutating func fillNormal(_ buffer: UnsafeMutableBufferPointer<Float>, std: Float = 1) {
        for i in buffer.indices { buffer[i] = nextNormal() * std }
    }

    /// Fills `buffer` with uniform values in [low, high).
    public mutating func fillUniform(_ buffer: UnsafeMutableBufferPointer<Float>, low: Float, high: Float) {
        for i in buffer.indices { buffer[i] = low + (high - low) * nextUniform() }
    }
}
