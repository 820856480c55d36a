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

    public init(cluster: ClusterConfig = ClusterConfig()) {
        self.cluster = cluster
    }

    /// All documented keys, in file order.
    public static var keys: [ConfigKeySpec] {
        ClusterConfig.keys + RunSection.keys + DataSection.keys + OptimSection.keys + FlowSection.keys + SyncSection.keys + CSDSection.keys
    }

    /// The top-level tables a config may hold.
    public static let tables = ["cluster", "run", "data", "optim", "flow", "sync", "csd"]

    /// Parses TOML text; `source` names it in errors.
    public static func parse(_ text: String, source: String = "<string>") throws(ConfigError) -> RunConfig {
        let document: TOMLTable
        do {
            document = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            throw ConfigError(source: source, key: nil,
                              message: "not valid TOML at line \(e.source.begin.line), column \(e.source.begin.column): \(e.description)")
        } catch {
            throw ConfigError(source: source, key: nil, message: "not valid TOML: \(error)")
        }
        let root = ConfigTableReader(table: document, path: "", source: source)
        var c = RunConfig()
        if let r = try root.table("cluster") { c.cluster = try ClusterConfig(r) }
        if let r = try root.table("run") { c.run = try RunSection(r) }
        if let r = try root.table("data") { c.data = try DataSection(r) }
        if let r = try root.table("optim") { c.optim = try OptimSection(r) }
        if let r = try root.table("flow") { c.flow = try FlowSection(r) }
        if let r = try root.table("sync") { c.sync = try SyncSection(r) }
        if let r = try root.table("csd") { c.csd = try CSDSection(r) }
        try root.finish(allowed: tables.map { "[\($0)]" })
        return c
    }

    /// Reads and parses a TOML file.
    public static func load(path: String) throws(ConfigError) -> RunConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(source: path, key: nil, message: "cannot read the file: \(error.localizedDescription)")
        }
        return try parse(text, source: path)
    }
}
