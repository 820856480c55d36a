import TOMLKit

/// Reads the keys of one TOML table with type and range checks, remembering which keys
/// were read so that `finish()` can reject the ones nobody asked for (typos included).
public final class ConfigTableReader {
    private let table: TOMLTable
    /// Dotted path of this table ("" for the document root).
    public let path: String
    /// The file the table came from, for error messages.
    public let source: String
    private var consumed: Set<String> = []
    /// Full keys given by `--set`: their errors blame `--set`, not the file.
    let overridden: Set<String>

    init(table: TOMLTable, path: String, source: String, overridden: Set<String> = []) {
        self.table = table
        self.path = path
        self.source = source
        self.overridden = overridden
    }

    private func fullKey(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private func error(_ key: String?, _ message: String) -> ConfigError {
        let full = key.map(fullKey)
        let fromSet = full.map { k in overridden.contains(k) || overridden.contains { $0.hasPrefix(k + ".") } } ?? false
        return ConfigError(source: fromSet ? "--set" : source, key: full, message: message)
    }

    /// An error about a key's value that its type and range cannot catch (a format, a
    /// dependency on another key), blamed like the others on the file or on --set.
    func invalid(_ spec: ConfigKeySpec, _ message: String) -> ConfigError { error(spec.name, message) }

    private func value(_ key: String) -> TOMLValueConvertible? {
        consumed.insert(key)
        return table[key]
    }

    private func typeError(_ key: String, expected: String, got value: TOMLValueConvertible) -> ConfigError {
        error(key, "expected \(expected), found \(value.type) \(value.debugDescription)")
    }

    /// An integer, `default` when absent; must lie in `range` when one is given.
    public func int(_ key: String, default def: Int, in range: ClosedRange<Int>? = nil) throws(ConfigError) -> Int {
        guard let v = value(key) else { return def }
        guard let i = v.int else { throw typeError(key, expected: "an integer", got: v) }
        if let range, !range.contains(i) {
            throw error(key, "\(i) is out of range: allowed \(range.lowerBound) ... \(range.upperBound)")
        }
        return i
    }

    /// A number (an integer is accepted), `default` when absent.
    public func double(_ key: String, default def: Double, in range: ClosedRange<Double>? = nil) throws(ConfigError) -> Double {
        guard let v = value(key) else { return def }
        let d: Double
        if let x = v.double { d = x } else if let i = v.int { d = Double(i) } else {
            throw typeError(key, expected: "a number", got: v)
        }
        if let range, !range.contains(d) {
            throw error(key, "\(d) is out of range: allowed \(range.lowerBound) ... \(range.upperBound)")
        }
        return d
    }

    /// A boolean, `default` when absent.
    public func bool(_ key: String, default def: Bool) throws(ConfigError) -> Bool {
        guard let v = value(key) else { return def }
        guard let b = v.bool else { throw typeError(key, expected: "true or false", got: v) }
        return b
    }

    /// A string, `default` when absent.
    public func string(_ key: String, default def: String) throws(ConfigError) -> String {
        guard let v = value(key) else { return def }
        guard let s = v.string else { throw typeError(key, expected: "a string", got: v) }
        return s
    }

    /// One of an enumeration's raw values, `default` when absent.
    public func choice<E: RawRepresentable & CaseIterable>(_ key: String, default def: E) throws(ConfigError) -> E
    where E.RawValue == String {
        guard let v = value(key) else { return def }
        let allowed = E.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " | ")
        guard let s = v.string else { throw typeError(key, expected: "one of \(allowed)", got: v) }
        guard let e = E(rawValue: s) else { throw error(key, "\"\(s)\" is not allowed: use \(allowed)") }
        return e
    }

    /// One of `among` (a subset of an enumeration's cases), `default` when absent.
    public func choice<E: RawRepresentable & CaseIterable & Equatable>(_ key: String, default def: E, among: [E]) throws(ConfigError) -> E
    where E.RawValue == String {
        guard let v = value(key) else { return def }
        let allowed = among.map { "\"\($0.rawValue)\"" }.joined(separator: " | ")
        guard let s = v.string else { throw typeError(key, expected: "one of \(allowed)", got: v) }
        guard let e = E(rawValue: s), among.contains(e) else { throw error(key, "\"\(s)\" is not allowed: use \(allowed)") }
        return e
    }

    /// A nested table, or nil when absent.
    public func table(_ key: String) throws(ConfigError) -> ConfigTableReader? {
        guard let v = value(key) else { return nil }
        guard let t = v.table else { throw typeError(key, expected: "a table [\(fullKey(key))]", got: v) }
        return ConfigTableReader(table: t, path: fullKey(key), source: source, overridden: overridden)
    }

    /// Rejects every key of the table that was never read, listing the allowed ones.
    public func finish(allowed: [String]) throws(ConfigError) {
        let unknown = table.keys.filter { !consumed.contains($0) }.sorted()
        guard let first = unknown.first else { return }
        let where_ = path.isEmpty ? "at the top level" : "in [\(path)]"
        let list = allowed.isEmpty ? "none" : allowed.joined(separator: ", ")
        throw error(first, "unknown key \(where_); allowed keys: \(list)")
    }
}
