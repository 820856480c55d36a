import Foundation

/// The documentation of one config key: what `uso train --help-config` and
/// Cluster/configs/README.md show, and what unknown-key errors list as allowed.
public struct ConfigKeySpec: Sendable, Equatable {
    /// Full dotted key, e.g. "cluster.reward_ranks".
    public let key: String
    /// TOML type: "integer", "string", "float", "boolean".
    public let type: String
    /// The default, as it would be written in TOML.
    public let defaultValue: String
    /// Allowed values or range, e.g. "tail | spread" or "0 ... world size - 1".
    public let allowed: String
    /// One or two sentences on what the key does.
    public let summary: String
    /// The checked range of a numeric key (nil: unbounded on that side, or not numeric).
    public let lowerBound: Double?
    public let upperBound: Double?

    public init(key: String, type: String, defaultValue: String, allowed: String, summary: String,
                lowerBound: Double? = nil, upperBound: Double? = nil) {
        self.key = key
        self.type = type
        self.defaultValue = defaultValue
        self.allowed = allowed
        self.summary = summary
        self.lowerBound = lowerBound
        self.upperBound = upperBound
    }

    /// The key's last component ("reward_ranks").
    public var name: String { String(key.split(separator: ".").last ?? Substring(key)) }
}

extension Array where Element == ConfigKeySpec {
    /// A plain-text table of the keys, for terminals and README files.
    public func renderedAsText() -> String {
        map { spec in
            "\(spec.key) (\(spec.type), default \(spec.defaultValue); allowed: \(spec.allowed))\n    \(spec.summary)"
        }.joined(separator: "\n")
    }

    /// A Markdown table of the keys, for Cluster/configs/README.md.
    public func renderedAsMarkdown() -> String {
        var lines = ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
        for s in self {
            let cells = [s.key, s.type, s.defaultValue, s.allowed, s.summary].map { $0.replacingOccurrences(of: "|", with: "\\|") }
            lines.append("| `\(cells[0])` | \(cells[1]) | `\(cells[2])` | \(cells[3]) | \(cells[4]) |")
        }
        return lines.joined(separator: "\n")
    }
}
