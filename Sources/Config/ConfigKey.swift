import Foundation

/// One config key declared once: its name, type, default, range and doc. The section's
/// parser reads it (`ConfigTableReader.read`), and `spec` is what the generated docs
/// (`uso train --help-config`, Cluster/configs/README.md) and the unknown-key errors show,
/// so the documented range is the checked one.
public struct ConfigKey<Value: Sendable>: Sendable {
    public let spec: ConfigKeySpec
    public let defaultValue: Value
    let parse: @Sendable (ConfigTableReader, String, Value) throws(ConfigError) -> Value

    /// The key's last component, as the table holds it.
    public var name: String { spec.name }
}

extension ConfigKey where Value == Int {
    /// An integer in `range`; an upper bound of Int32.max is shown as open ("1 ...").
    public static func integer(_ key: String, default d: Int, in range: ClosedRange<Int>, note: String? = nil,
                               _ summary: String) -> ConfigKey {
        let upper = range.upperBound == Int(Int32.max) ? "" : " \(render(range.upperBound))"
        let allowed = "\(render(range.lowerBound)) ...\(upper)" + (note.map { " (\($0))" } ?? "")
        return ConfigKey(spec: ConfigKeySpec(key: key, type: "integer", defaultValue: String(d), allowed: allowed, summary: summary,
                                             lowerBound: Double(range.lowerBound),
                                             upperBound: range.upperBound == Int(Int32.max) ? nil : Double(range.upperBound)),
                         defaultValue: d) { (r, name, d) throws(ConfigError) in try r.int(name, default: d, in: range) }
    }

    static func render(_ v: Int) -> String {
        if v > 1 << 20 && v.nonzeroBitCount == 1 { return "2^\(v.trailingZeroBitCount)" }
        return String(v)
    }
}

extension ConfigKey where Value == Double {
    /// A number in `range` (nil: any finite number).
    public static func number(_ key: String, default d: Double, in range: ClosedRange<Double>?, _ summary: String) -> ConfigKey {
        let allowed = range.map { "\(render($0.lowerBound)) ... \(render($0.upperBound))" } ?? "any"
        return ConfigKey(spec: ConfigKeySpec(key: key, type: "float", defaultValue: render(d), allowed: allowed, summary: summary,
                                             lowerBound: range?.lowerBound, upperBound: range?.upperBound),
                         defaultValue: d) { (r, name, d) throws(ConfigError) in try r.double(name, default: d, in: range) }
    }

    static func render(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e7 { return String(Int(v)) }
        return String(format: "%g", v)
    }
}

extension ConfigKey where Value == Bool {
    public static func boolean(_ key: String, default d: Bool, _ summary: String) -> ConfigKey {
        ConfigKey(spec: ConfigKeySpec(key: key, type: "boolean", defaultValue: String(d), allowed: "true | false", summary: summary),
                  defaultValue: d) { (r, name, d) throws(ConfigError) in try r.bool(name, default: d) }
    }
}

extension ConfigKey where Value == String {
    /// A string; `shownDefault` is how the docs show an empty default that means something.
    public static func text(_ key: String, default d: String, shownDefault: String? = nil, allowed: String, _ summary: String) -> ConfigKey {
        ConfigKey(spec: ConfigKeySpec(key: key, type: "string", defaultValue: shownDefault ?? "\"\(d)\"", allowed: allowed, summary: summary),
                  defaultValue: d) { (r, name, d) throws(ConfigError) in try r.string(name, default: d) }
    }
}

extension ConfigKey where Value: RawRepresentable & CaseIterable & Equatable, Value.RawValue == String {
    /// One of `among` (by default every case), written as its raw value.
    public static func choice(_ key: String, default d: Value, among: [Value]? = nil, _ summary: String) -> ConfigKey {
        let cases = among ?? Array(Value.allCases)
        return ConfigKey(spec: ConfigKeySpec(key: key, type: "string", defaultValue: "\"\(d.rawValue)\"",
                                             allowed: cases.map { "\"\($0.rawValue)\"" }.joined(separator: " | "), summary: summary),
                         defaultValue: d) { (r, name, d) throws(ConfigError) in try r.choice(name, default: d, among: cases) }
    }
}

extension ConfigTableReader {
    /// Reads `key` from this table (its default when absent), with the key's type and range checks.
    public func read<V>(_ key: ConfigKey<V>) throws(ConfigError) -> V {
        try key.parse(self, key.name, key.defaultValue)
    }
}
