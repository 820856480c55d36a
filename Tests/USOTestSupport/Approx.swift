/// Approximate equality of float arrays, failing loudly with the largest difference.
///
/// An element passes when |actual - expected| <= absolute + relative * |expected|.
/// The presets say which comparison they are for and why their numbers are what they are.
public struct Tolerance: Sendable, CustomStringConvertible {
    public let absolute: Double
    public let relative: Double

    public init(absolute: Double, relative: Double) {
        self.absolute = absolute
        self.relative = relative
    }

    /// Float32 results against a float64 reference of the same arithmetic (the JAX
    /// reference, naive loops in Double): float32 rounding over sums of a few hundred to
    /// a few thousand terms stays well inside 1e-4 relative.
    public static let float32VersusFloat64 = Tolerance(absolute: 1e-5, relative: 1e-4)

    /// Analytic float32 gradients against central finite differences taken in float32
    /// with step 1e-2 on a loss accumulated in Double: the truncation error is O(h^2)
    /// (about 1e-4 relative) and float32 rounding of the perturbed forward adds about
    /// 1e-7 * |loss| / h, so 2e-2 relative with a 2e-3 floor separates a right backward
    /// from a wrong one (a wrong one is off by O(1)).
    public static let finiteDifferenceFloat32 = Tolerance(absolute: 2e-3, relative: 2e-2)

    /// Bit-for-bit.
    public static let exact = Tolerance(absolute: 0, relative: 0)

    public var description: String { "abs \(absolute) + rel \(relative)" }
}

/// The outcome of comparing two arrays: passed, or the worst element.
public struct Comparison: CustomStringConvertible, Sendable {
    public let what: String
    public let count: Int
    public let failures: Int
    public let worstIndex: Int?
    public let worstActual: Double
    public let worstExpected: Double
    public let maxAbsDifference: Double
    public let tolerance: Tolerance
    public let sizeMismatch: (Int, Int)?

    public var passed: Bool { sizeMismatch == nil && failures == 0 }

    public var description: String {
        if let (a, e) = sizeMismatch { return "\(what): \(a) values, expected \(e)" }
        let worst = worstIndex.map { "largest difference at [\($0)]: \(worstActual) vs expected \(worstExpected)" } ?? "empty"
        return "\(what): \(failures) of \(count) outside \(tolerance); max |diff| \(maxAbsDifference); \(worst)"
    }
}

public enum Approx {
    /// Compares element-wise; the worst element is the one furthest outside its tolerance.
    public static func compare<A: BinaryFloatingPoint, E: BinaryFloatingPoint>(
        _ actual: [A], _ expected: [E], _ tolerance: Tolerance, _ what: String = "values"
    ) -> Comparison {
        guard actual.count == expected.count else {
            return Comparison(what: what, count: 0, failures: 0, worstIndex: nil, worstActual: 0, worstExpected: 0,
                              maxAbsDifference: 0, tolerance: tolerance, sizeMismatch: (actual.count, expected.count))
        }
        var failures = 0
        var worst: Int? = nil
        var worstExcess = -Double.infinity
        var maxDiff = 0.0
        for i in actual.indices {
            let a = Double(actual[i]), e = Double(expected[i])
            let diff = abs(a - e)
            let allowed = tolerance.absolute + tolerance.relative * abs(e)
            let bad = !(diff <= allowed)  // NaN fails
            if bad { failures += 1 }
            maxDiff = max(maxDiff, diff.isNaN ? .infinity : diff)
            let excess = diff.isNaN ? .infinity : diff - allowed
            if excess > worstExcess {
                worstExcess = excess
                worst = i
            }
        }
        return Comparison(what: what, count: actual.count, failures: failures, worstIndex: worst,
                          worstActual: worst.map { Double(actual[$0]) } ?? 0,
                          worstExpected: worst.map { Double(expected[$0]) } ?? 0,
                          maxAbsDifference: maxDiff, tolerance: tolerance, sizeMismatch: nil)
    }
}
