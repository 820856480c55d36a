import Foundation

/// Byte counts as people write them: "4KiB", "256MiB", "1GiB", "4096".
public enum ByteSize {
    /// Parses a byte count with an optional binary suffix (B, KiB, MiB, GiB; K, M, G are
    /// read as binary too). Returns nil for anything else.
    public static func parse(_ text: String) -> Int? {
        let s = text.trimmingCharacters(in: .whitespaces)
        let digits = s.prefix { $0.isNumber }
        guard let value = Int(digits) else { return nil }
        let suffix = s.dropFirst(digits.count).lowercased().trimmingCharacters(in: .whitespaces)
        let multipliers: [String: Int] = ["": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "kb": 1 << 10,
                                          "m": 1 << 20, "mib": 1 << 20, "mb": 1 << 20,
                                          "g": 1 << 30, "gib": 1 << 30, "gb": 1 << 30]
        guard let m = multipliers[suffix] else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: m)
        return overflow ? nil : product
    }

    /// "4 KiB", "1.5 MiB", "256 MiB", "512 B".
    public static func format(_ bytes: Int) -> String {
        let units: [(Int, String)] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
        for (size, name) in units where bytes >= size {
            if bytes % size == 0 { return "\(bytes / size) \(name)" }
            let tenths = (bytes * 10 + size / 2) / size
            return "\(tenths / 10).\(tenths % 10) \(name)"
        }
        return "\(bytes) B"
    }
}
