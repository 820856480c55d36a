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

    /// Reads `RUN/diag/` (clock.json and rank_RR.jsonl) and builds the trace.
    public static func build(run: String) throws -> (trace: Data, summary: Summary) {
        let record = try RunRecord.read(run: run)
        let clocks = record.ranks
        let spansByRank = record.ranks.map { ($0, $0.spans) }
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
