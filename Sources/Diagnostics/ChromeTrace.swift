import FlightRecorder
import Foundation

/// A run's flight recorders as one Chrome trace (Trace Event Format, which Perfetto and
/// chrome://tracing open): pid = world rank, named with its role and host; tid = stream
/// (compute, comm, reward, io); every rank's times moved onto rank 0's clock by the offsets
/// measured at start (`RUN/diag/clock.json`), in microseconds from the first span.
///
/// Spans that nest (a step and its phases, a blocking collective) are complete events
/// ("X"); non-blocking collectives, several of which are in flight at once, are async
/// events ("b"/"e", one id per communicator and sequence number).
public enum ChromeTrace {
    public struct Summary: Sendable {
        public let ranks: Int
        public let spans: Int
        /// The largest clock residual (half the shortest round trip), ns.
        public let residualNanoseconds: Int64
    }

    public struct DiagError: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ d: String) { description = d }
    }

    struct RankClock { let rank: Int; let role: String; let host: String; let offset: Int64; let residual: Int64 }

    /// Reads `RUN/diag/` (clock.json and rank_RR.jsonl) and builds the trace.
    public static func build(run: String) throws -> (trace: Data, summary: Summary) {
        let folder = (run as NSString).appendingPathComponent("diag")
        let clockPath = (folder as NSString).appendingPathComponent("clock.json")
        guard let clockData = FileManager.default.contents(atPath: clockPath) else {
            throw DiagError("\(clockPath): missing; \(run) holds no diagnostics (a run of this version writes RUN/diag/)")
        }
        guard let clock = try? JSONSerialization.jsonObject(with: clockData) as? [String: Any], clock["format"] as? String == "uso-diag-clock",
              let ranks = clock["ranks"] as? [[String: Any]] else {
            throw DiagError("\(clockPath): not a uso-diag-clock file (truncated or from something else)")
        }
        let clocks = try ranks.map { r -> RankClock in
            guard let rank = r["rank"] as? Int, let role = r["role"] as? String, let offset = (r["offset_ns"] as? NSNumber)?.int64Value,
                  let residual = (r["residual_ns"] as? NSNumber)?.int64Value else {
                throw DiagError("\(clockPath): a rank entry lacks rank, role, offset_ns or residual_ns: \(r)")
            }
            return RankClock(rank: rank, role: role, host: r["host"] as? String ?? "", offset: offset, residual: residual)
        }
        var spansByRank: [(RankClock, [SpanLine.Decoded])] = []
        for c in clocks {
            let path = (folder as NSString).appendingPathComponent(String(format: "rank_%02d.jsonl", c.rank))
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                spansByRank.append((c, []))
                continue
            }
            let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
            var spans: [SpanLine.Decoded] = []
            for (i, line) in lines.enumerated() {
                guard let s = SpanLine.decode(line) else {
                    // A cut-off last line is a flush still going (or a crash in one): skipped. Elsewhere it is damage.
                    if i == lines.count - 1 && !text.hasSuffix("\n") { continue }
                    throw DiagError("\(path): line \(i + 1) is not a flight-recorder span: \(line.prefix(120))")
                }
                spans.append(s)
            }
            spansByRank.append((c, spans))
        }
        // Rank 0's clock: t - offset; then from the first span.
        let origin = spansByRank.flatMap { c, spans in spans.map { Int64($0.start) - c.offset } }.min() ?? 0
        var events: [[String: Any]] = []
        var count = 0
        for (c, spans) in spansByRank {
            events.append(["ph": "M", "name": "process_name", "pid": c.rank, "tid": 0,
                           "args": ["name": "rank \(c.rank) (\(c.role))" + (c.host.isEmpty ? "" : " on \(c.host)")]])
            events.append(["ph": "M", "name": "process_sort_index", "pid": c.rank, "tid": 0, "args": ["sort_index": c.rank]])
            for stream in SpanStream.allCases {
                events.append(["ph": "M", "name": "thread_name", "pid": c.rank, "tid": Int(stream.rawValue), "args": ["name": stream.name]])
            }
            for s in spans where s.end >= s.start {
                let ts = Double(Int64(s.start) - c.offset - origin) / 1000, dur = Double(s.end - s.start) / 1000
                var args: [String: Any] = ["step": s.step]
                if s.sequence >= 0 { args["seq"] = s.sequence }
                if s.bytes > 0 { args["bytes"] = s.bytes }
                if s.peer >= 0 { args["peer"] = s.peer }
                if !s.operation.isEmpty { args["op"] = s.operation; args["state"] = s.state.name }
                let name = s.operation.isEmpty ? s.kind.name : s.operation
                let tid = Int(s.stream.rawValue)
                if s.kind == .collective && s.operation.hasPrefix("MPI_I") {
                    let id = "\(s.operation)#\(s.sequence)"
                    events.append(["ph": "b", "cat": "collective", "name": name, "id": id, "pid": c.rank, "tid": tid, "ts": ts, "args": args])
                    events.append(["ph": "e", "cat": "collective", "name": name, "id": id, "pid": c.rank, "tid": tid, "ts": ts + dur])
                } else {
                    events.append(["ph": "X", "cat": s.kind.name, "name": name, "pid": c.rank, "tid": tid, "ts": ts, "dur": dur, "args": args])
                }
                count += 1
            }
        }
        let residual = clocks.map(\.residual).max() ?? 0
        let trace: [String: Any] = ["traceEvents": events, "displayTimeUnit": "ms",
                                    "otherData": ["clock_residual_ns": residual, "run": run]]
        return (try JSONSerialization.data(withJSONObject: trace, options: [.sortedKeys]), Summary(ranks: clocks.count, spans: count, residualNanoseconds: residual))
    }
}
