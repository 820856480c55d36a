/// The median of timings (the mean of the middle two for an even count; NaN when empty):
/// every benchmark reports medians, which one slow outlier on a shared machine does not move.
func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    guard !s.isEmpty else { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
