import Foundation
import TOMLKit

/// A run's whole configuration, read from one TOML file.
///
/// Every table and key is documented (`RunConfig.keys`); unknown tables or keys, wrong
/// types and out-of-range values are rejected with the file, the key and what is allowed.
/// Sections are added as the subsystems they configure land.
public struct RunConfig: Sendable, Equatable {
    public var cluster: ClusterConfig

    public init(cluster: ClusterConfig = ClusterConfig()) {
        self.cluster = cluster
    }

    /// All documented keys, in file order.
    public static var keys: [ConfigKeySpec] { ClusterConfig.keys }

    /// The top-level tables a config may hold.
    public static let tables = ["cluster"]

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
        let cluster = try root.table("cluster").map { (r) throws(ConfigError) in try ClusterConfig(r) } ?? ClusterConfig()
        try root.finish(allowed: tables.map { "[\($0)]" })
        return RunConfig(cluster: cluster)
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
