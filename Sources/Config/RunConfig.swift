import Foundation
import TOMLKit

/// A run's whole configuration, read from one TOML file.
///
/// Every table and key is documented (`RunConfig.keys`); unknown tables or keys, wrong
/// types and out-of-range values are rejected with the file, the key and what is allowed.
/// Sections are added as the subsystems they configure land.
public struct RunConfig: Sendable, Equatable {
    public var cluster = ClusterConfig()
    public var run = RunSection()
    public var data = DataSection()
    public var optim = OptimSection()
    public var flow = FlowSection()
    public var sync = SyncSection()
    public var csd = CSDSection()
    public var reward = RewardSection()
    public var diag = DiagSection()

    public init(cluster: ClusterConfig = ClusterConfig()) {
        self.cluster = cluster
    }

    /// All documented keys, in file order.
    public static var keys: [ConfigKeySpec] {
        ClusterConfig.keys + RunSection.keys + DataSection.keys + OptimSection.keys + FlowSection.keys + SyncSection.keys
            + CSDSection.keys + RewardSection.keys + DiagSection.keys
    }

    /// The top-level tables a config may hold.
    public static let tables = ["cluster", "run", "data", "optim", "flow", "sync", "csd", "reward", "diag"]

    /// Parses TOML text; `source` names it in errors. `overrides` ("table.key", TOML value
    /// text) replace or add keys before the config is read, as `uso train --set` gives them.
    public static func parse(_ text: String, source: String = "<string>", overrides: [(String, String)] = []) throws(ConfigError) -> RunConfig {
        let document: TOMLTable
        do {
            document = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            throw ConfigError(source: source, key: nil,
                              message: "not valid TOML at line \(e.source.begin.line), column \(e.source.begin.column): \(e.description)")
        } catch {
            throw ConfigError(source: source, key: nil, message: "not valid TOML: \(error)")
        }
        for (key, value) in overrides {
            let parts = key.split(separator: ".").map(String.init)
            guard parts.count == 2 else {
                throw ConfigError(source: "--set", key: key, message: "name a key as table.key (for example run.steps)")
            }
            let parsed: TOMLTable
            do { parsed = try TOMLTable(string: "v = \(value)") } catch {
                // A bare word is taken as a string.
                do { parsed = try TOMLTable(string: "v = \"\(value.replacingOccurrences(of: "\"", with: "\\\""))\"") } catch {
                    throw ConfigError(source: "--set", key: key, message: "\(value) is not a TOML value")
                }
            }
            if document[parts[0]] == nil { document[parts[0]] = TOMLTable() }
            guard let table = document[parts[0]]?.table else {
                throw ConfigError(source: "--set", key: key, message: "\(parts[0]) is not a table")
            }
            guard let v = parsed["v"] else { throw ConfigError(source: "--set", key: key, message: "\(value) is not a TOML value") }
            table[parts[1]] = v.tomlValue
            document[parts[0]] = table
        }
        let root = ConfigTableReader(table: document, path: "", source: source, overridden: Set(overrides.map(\.0)))
        var c = RunConfig()
        if let r = try root.table("cluster") { c.cluster = try ClusterConfig(r) }
        if let r = try root.table("run") { c.run = try RunSection(r) }
        if let r = try root.table("data") { c.data = try DataSection(r) }
        if let r = try root.table("optim") { c.optim = try OptimSection(r) }
        if let r = try root.table("flow") { c.flow = try FlowSection(r) }
        if let r = try root.table("sync") { c.sync = try SyncSection(r) }
        if let r = try root.table("csd") { c.csd = try CSDSection(r) }
        if let r = try root.table("reward") { c.reward = try RewardSection(r) }
        if let r = try root.table("diag") { c.diag = try DiagSection(r) }
        try root.finish(allowed: tables.map { "[\($0)]" })
        return c
    }

    /// `--set key=value` arguments as (key, value) pairs, trimmed; one without "=" is an
    /// error blaming --set.
    public static func overridePairs(_ arguments: [String]) throws(ConfigError) -> [(String, String)] {
        try arguments.map { (o) throws(ConfigError) -> (String, String) in
            guard let i = o.firstIndex(of: "=") else { throw ConfigError(source: "--set", key: o, message: "write key=value, for example --set run.steps=100") }
            return (String(o[..<i]).trimmingCharacters(in: .whitespaces), String(o[o.index(after: i)...]).trimmingCharacters(in: .whitespaces))
        }
    }

    /// Reads and parses a TOML file, with `overrides` applied.
    public static func load(path: String, overrides: [(String, String)] = []) throws(ConfigError) -> RunConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(source: path, key: nil, message: "cannot read the file: \(error.localizedDescription)")
        }
        return try parse(text, source: path, overrides: overrides)
    }
}
