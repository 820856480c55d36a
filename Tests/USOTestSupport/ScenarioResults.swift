import Foundation

/// One scenario's outcome on one rank, as an MPI check program (uso-comm-check) writes it:
/// one JSON line per scenario in `<dir>/rank-<r>.jsonl`.
public struct ScenarioResult: Codable, Sendable, Equatable {
    public let scenario: String
    public let rank: Int
    public let size: Int
    public let ok: Bool
    public let detail: String

    public init(scenario: String, rank: Int, size: Int, ok: Bool, detail: String) {
        self.scenario = scenario
        self.rank = rank
        self.size = size
        self.ok = ok
        self.detail = detail
    }

    /// The file rank `rank` writes its results to.
    public static func file(in directory: URL, rank: Int) -> URL {
        directory.appendingPathComponent("rank-\(rank).jsonl")
    }

    /// Writes one rank's results.
    public static func write(_ results: [ScenarioResult], to directory: URL, rank: Int) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var text = ""
        for r in results { text += String(decoding: try encoder.encode(r), as: UTF8.self) + "\n" }
        try text.write(to: file(in: directory, rank: rank), atomically: true, encoding: .utf8)
    }

    /// Reads every rank's results, indexed by rank; a missing file is an error naming the rank.
    public static func read(from directory: URL, ranks: Int) throws -> [[ScenarioResult]] {
        try (0..<ranks).map { r in
            let url = file(in: directory, rank: r)
            guard let text = try? String(contentsOf: url, encoding: .utf8) else {
                throw ScenarioResultsError.missing(rank: r, path: url.path)
            }
            return try text.split(separator: "\n").map { try JSONDecoder().decode(ScenarioResult.self, from: Data($0.utf8)) }
        }
    }
}

public enum ScenarioResultsError: Error, CustomStringConvertible {
    case missing(rank: Int, path: String)
    public var description: String {
        switch self {
        case let .missing(rank, path): return "rank \(rank) wrote no results (\(path))"
        }
    }
}
