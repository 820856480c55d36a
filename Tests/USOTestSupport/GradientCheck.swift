/// A backward checked against central finite differences, and the check itself checked:
/// a probe whose numeric gradients lie at or below the tolerance's absolute floor would pass
/// any analytic gradient (zero, or half the right one), so it fails as uninformative.
///
/// Informative means: the largest probed |gradient| is at least `floorMultiple` times the
/// floor, and at least a third of the probes lie above the floor. At the float32 tolerance
/// (2e-3 floor, 2e-2 relative) a gradient scaled by 0.5 then fails on every probe above it.
public enum GradientCheck {
    public static let floorMultiple = 10.0

    /// Compares the analytic gradient `analytic(i)` of `values` with finite differences at up
    /// to `count` indices; returns the failure (wrong or uninformative), or nil.
    ///
    /// `normalize` scales the loss (and so both gradients) by 1 / the largest probed analytic
    /// |gradient| (at most 1e4 times), for a tensor whose gradients are small beside the
    /// floor; a wrong scale still fails (the comparison is relative above the floor), and a
    /// scaled loss whose finite differences drown in float32 noise fails loudly, never passes.
    public static func probe(_ what: String, _ values: UnsafeMutableBufferPointer<Float>, count: Int = 8,
                             tolerance: Tolerance = .finiteDifferenceFloat32, step: Float = 1e-2, normalize: Bool = false,
                             analytic: (Int) -> Float, loss: () -> Double) -> String? {
        let idx = FiniteDifference.sampleIndices(values.count, count: count)
        var a = idx.map(analytic)
        var m = 1.0
        if normalize, let largest = a.map({ Double(abs($0)) }).max(), largest > 0 { m = min(1e4, 1 / largest) }
        let numeric = FiniteDifference.gradient(of: values, step: step, indices: idx) { m * loss() }
        a = a.map { Float(m) * $0 }
        return check(m == 1 ? what : "\(what) (loss x \(m))", analytic: a, numeric: numeric, tolerance: tolerance)
    }

    /// The comparison and the informativeness rule for gradients already computed.
    public static func check(_ what: String, analytic: [Float], numeric: [Double],
                             tolerance: Tolerance = .finiteDifferenceFloat32) -> String? {
        let cmp = Approx.compare(analytic, numeric, tolerance, what)
        if !cmp.passed { return "\(cmp)" }
        let floor = tolerance.absolute
        let largest = numeric.map(abs).max() ?? 0
        let above = numeric.filter { abs($0) > floor }.count
        if largest < floorMultiple * floor || 3 * above < numeric.count {
            return "\(what): uninformative: largest probed |gradient| \(largest), \(above) of \(numeric.count) probes above the "
                + "tolerance floor \(floor) (need \(floorMultiple)x the floor and a third above it): scale the loss or the inputs up"
        }
        return nil
    }
}
