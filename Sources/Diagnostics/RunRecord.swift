import FlightRecorder
import Foundation

/// A diagnostics failure naming the file (a run without `diag/`, a damaged line).
public struct DiagError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ d: String) { description = d }
}

/// What a run's `RUN/diag/` holds, read: every rank's role, host and clock offset
/// (clock.json) and its flushed spans (rank_RR.jsonl), for the timeline and the report.
/// A run still going is read as far as it has flushed (a cut-off last line is skipped).
public struct RunRecord: Sendable {
    public struct Rank: Sendable {
        public let rank: Int, role: String, host: String
        /// This rank's clock minus rank 0's (ns), and the error bound of that offset.
        public let offset: Int64, residual: Int64
        public var spans: [SpanLine.Decoded]
        /// A span's start and end on rank 0's clock (ns).
        public func start(_ s: SpanLine.Decoded) -> Int64 { Int64(s.start) - offset }
        public func end(_ s: SpanLine.Decoded) -> Int64 { Int64(s.end) - offset }
        public var isTrainer: Bool { role.hasPrefix("trainer") }
    }

    public let run: String, folder: String
    public var ranks: [Rank]

    public static func read(run: String) throws -> RunRecord {
        let folder = (run as NSString).appendingPathComponent("diag")
        let clockPath = (folder as NSString).appendingPathComponent("clock.json")
        guard let clockData = FileManager.default.contents(atPath: clockPath) else {
            throw DiagError("\(clockPath): missing; \(run) holds no diagnostics (a run of this version writes RUN/diag/)")
        }
        guard let clock = try? JSONSerialization.jsonObject(with: clockData) as? [String: Any], clock["format"] as? String == "uso-diag-clock",
              let entries = clock["ranks"] as? [[String: Any]] else {
            throw DiagError("\(clockPath): not a uso-diag-clock file (truncated or from something else)")
        }
        var ranks: [Rank] = []
        for r in entries {
            guard let rank = r["rank"] as? Int, let role = r["role"] as? String, let offset = (r["offset_ns"] as? NSNumber)?.int64Value,
                  let residual = (r["residual_ns"] as? NSNumber)?.int64Value else {
                throw DiagError("\(clockPath): a rank entry lacks rank, role, offset_ns or residual_ns: \(r)")
            }
            let path = (folder as NSString).appendingPathComponent(String(format: "rank_%02d.jsonl", rank))
            var spans: [SpanLine.Decoded] = []
            if let text = try? String(contentsOfFile: path, encoding: .utf8) {
                let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
                for (i, line) in lines.enumerated() {
                    guard let s = SpanLine.decode(line) else {
                        // A cut-off last line is a flush still going (or a crash in one): skipped. Elsewhere it is damage.
                        if i == lines.count - 1 && !text.hasSuffix("\n") { continue }
                        throw DiagError("\(path): line \(i + 1) is not a flight-recorder span: \(line.prefix(120))")
                    }
                    spans.append(s)
                }
            }
            ranks.append(Rank(rank: rank, role: role, host: r["host"] as? String ?? "", offset: offset, residual: residual, spans: spans))
        }
        return RunRecord(run: run, folder: folder, ranks: ranks)
    }
}
