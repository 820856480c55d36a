import FlightRecorder
import Foundation

/// What `uso diag report` reads off a run: per trainer the split of its steps (compute,
/// exposed sync, data wait, reward wait), per gradient-bucket size the in-flight time and
/// bandwidth beside `uso bench allreduce`'s curve, per collective each trainer's arrival (the
/// last to arrive, by how much, and what it did just before), the reward ranks' busy time
/// and the trainers' request-to-reply latency, skipped steps, stalls, and the loss.
public struct RunReport: Sendable {
    public struct StepSplit: Sendable {
        public let rank: Int, role: String, steps: Int
        /// Mean seconds per step (the first step, warming up, left out when there are more).
        public let step: Double, compute: Double, sync: Double, data: Double, reward: Double
    }
    public struct Bucket: Sendable {
        public let bytes: Int, count: Int
        /// Mean seconds from the call to its completion (in flight, overlapped with backward).
        public let seconds: Double
        public let algbw: Double, busbw: Double
        /// The allreduce curve's busbw at this size (GB/s), if a curve was given.
        public let curveBusbw: Double?
    }
    public struct Straggler: Sendable {
        public let operation: String, sequence: Int, step: Int, lastRank: Int
        /// The last arrival after the first (s).
        public let late: Double
        /// The last rank's span it arrived from (or in), with its length.
        public let previous: String
    }
    public struct RewardRank: Sendable {
        public let rank: Int, requests: Int, busyFraction: Double, meanServe: Double
    }
    public struct Lane: Sendable {
        public let rank: Int, role: String
        /// (stream, kind name, start, end) in seconds from the lane window's start.
        public let spans: [(stream: SpanStream, name: String, start: Double, end: Double)]
    }

    public var run = ""
    public var splits: [StepSplit] = []
    public var buckets: [Bucket] = []
    public var stragglers: [Straggler] = []
    /// Per trainer: how often it arrived last and its mean lateness then (s).
    public var lastArrivals: [(rank: Int, times: Int, meanLate: Double)] = []
    public var collectivesCompared = 0
    public var rewardRanks: [RewardRank] = []
    /// Request-to-reply latencies (s).
    public var rewardLatencies: [Double] = []
    public var losses: [(step: Int, loss: Double, reward: Double?)] = []
    public var skipped: [(step: Int, why: String)] = []
    public var stalls: [(rank: Int, report: String)] = []
    public var lanes: [Lane] = []
    public var laneSeconds = 0.0
    public var curve: [(bytes: Int, busbw: Double)] = []
    public var trainers = 0

    /// Reads `run` (its diag folder, metrics.jsonl) and, if given, an allreduce curve
    /// (`uso bench allreduce --json`; default `RUN/diag/allreduce.json` when present).
    public static func build(run: String, curve curvePath: String? = nil, laneSteps: Int = 3) throws -> RunReport {
        let record = try RunRecord.read(run: run)
        var r = RunReport()
        r.run = run
        let trainers = record.ranks.filter(\.isTrainer)
        r.trainers = trainers.count
        let path = curvePath ?? (record.folder as NSString).appendingPathComponent("allreduce.json")
        if let data = FileManager.default.contents(atPath: path) {
            guard let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let rows = o["rows"] as? [[String: Any]] else {
                throw DiagError("\(path): not an allreduce curve (write one with uso bench allreduce --json FILE)")
            }
            r.curve = rows.compactMap { row in (row["bytes"] as? Int).flatMap { b in (row["busbwGBs"] as? Double).map { (b, $0) } } }.sorted { $0.bytes < $1.bytes }
        } else if curvePath != nil {
            throw DiagError("\(path): no such curve file")
        }
        for t in trainers { r.splits.append(split(t)) }
        r.buckets = buckets(trainers, curve: r.curve)
        (r.stragglers, r.lastArrivals, r.collectivesCompared) = arrivals(trainers)
        for k in record.ranks where !k.isTrainer {
            let serve = k.spans.filter { $0.kind == .rewardServe && $0.end >= $0.start }
            guard let first = serve.first, let last = serve.last else { continue }
            let busy = serve.reduce(0.0) { $0 + Double($1.end - $1.start) * 1e-9 }
            let wall = Double(last.end - first.start) * 1e-9
            r.rewardRanks.append(RewardRank(rank: k.rank, requests: serve.count, busyFraction: wall > 0 ? busy / wall : 0, meanServe: busy / Double(serve.count)))
        }
        for t in trainers {
            var sent: [Int: UInt64] = [:]
            for s in t.spans where s.kind == .rewardSend { sent[s.sequence] = s.start }
            for s in t.spans where s.kind == .rewardReceive && s.end > 0 {
                if let t0 = sent[s.sequence], s.end >= t0 { r.rewardLatencies.append(Double(s.end - t0) * 1e-9) }
            }
        }
        try readMetrics(run, into: &r)
        for k in record.ranks {
            let p = (record.folder as NSString).appendingPathComponent(StallInspector.stallFile(k.rank))
            guard let text = try? String(contentsOfFile: p, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") {
                if let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let rep = o["report"] as? String {
                    r.stalls.append((k.rank, rep))
                }
            }
        }
        (r.lanes, r.laneSeconds) = lanes(record, steps: laneSteps)
        return r
    }

    static func split(_ t: RunRecord.Rank) -> StepSplit {
        let steps = t.spans.filter { $0.kind == .step && $0.end > $0.start }.sorted { $0.start < $1.start }
        let used = steps.count > 1 ? Array(steps.dropFirst()) : steps
        let starts = used.map(\.start)
        var sync = 0.0, data = 0.0, reward = 0.0
        // One pass: each span to the step that holds it (steps do not overlap), found by bisection.
        for s in t.spans where s.end > 0 && s.kind != .step {
            let isSync = s.kind == .syncWait || (s.kind == .collective && !s.operation.hasPrefix("MPI_I"))
            guard s.kind == .dataWait || s.kind == .rewardReceive || isSync else { continue }
            var lo = 0, hi = starts.count
            while lo < hi { let mid = (lo + hi) / 2; if starts[mid] <= s.start { lo = mid + 1 } else { hi = mid } }
            guard lo > 0, s.end <= used[lo - 1].end else { continue }
            let d = Double(s.end - s.start) * 1e-9
            if s.kind == .dataWait { data += d } else if s.kind == .rewardReceive { reward += d } else { sync += d }
        }
        let step = used.reduce(0.0) { $0 + Double($1.end - $1.start) * 1e-9 }
        let n = Double(max(1, used.count))
        return StepSplit(rank: t.rank, role: t.role, steps: steps.count, step: step / n, compute: max(0, step - sync - data - reward) / n,
                         sync: sync / n, data: data / n, reward: reward / n)
    }

    static func isGradientCollective(_ s: SpanLine.Decoded) -> Bool {
        s.kind == .collective && (s.operation.hasPrefix("MPI_Iallreduce(trainers)") || s.operation.hasPrefix("MPI_Ireduce_scatter(trainers)"))
    }

    static func buckets(_ trainers: [RunRecord.Rank], curve: [(bytes: Int, busbw: Double)]) -> [Bucket] {
        var bySize: [Int: [Double]] = [:]
        for t in trainers {
            for s in t.spans where isGradientCollective(s) && s.end > s.start { bySize[s.bytes, default: []].append(Double(s.end - s.start) * 1e-9) }
        }
        let n = Double(trainers.count)
        return bySize.keys.sorted().map { bytes in
            let times = bySize[bytes]!
            let mean = times.reduce(0, +) / Double(times.count)
            let algbw = Double(bytes) / mean / 1e9
            return Bucket(bytes: bytes, count: times.count, seconds: mean, algbw: algbw, busbw: n > 1 ? algbw * 2 * (n - 1) / n : algbw,
                          curveBusbw: interpolate(curve, at: bytes))
        }
    }

    /// The curve's busbw at `bytes`, linear in log(size) between its rows.
    static func interpolate(_ curve: [(bytes: Int, busbw: Double)], at bytes: Int) -> Double? {
        guard let first = curve.first, let last = curve.last else { return nil }
        if bytes <= first.bytes { return first.busbw }
        if bytes >= last.bytes { return last.busbw }
        let k = curve.firstIndex { $0.bytes >= bytes }!
        let a = curve[k - 1], b = curve[k]
        let f = (log(Double(bytes)) - log(Double(a.bytes))) / (log(Double(b.bytes)) - log(Double(a.bytes)))
        return a.busbw + f * (b.busbw - a.busbw)
    }

    static func arrivals(_ trainers: [RunRecord.Rank]) -> ([Straggler], [(rank: Int, times: Int, meanLate: Double)], Int) {
        guard trainers.count > 1 else { return ([], [], 0) }
        var calls: [String: [(rank: Int, at: Int64, step: Int)]] = [:]
        for t in trainers {
            for s in t.spans where s.kind == .collective && s.operation.hasSuffix("(trainers)") {
                calls["\(s.operation)#\(s.sequence)", default: []].append((t.rank, t.start(s), s.step))
            }
        }
        var late: [(key: String, latest: (rank: Int, at: Int64, step: Int), late: Double)] = []
        var last: [Int: (Int, Double)] = [:]
        for (key, arrived) in calls where arrived.count == trainers.count {
            let first = arrived.min { $0.at < $1.at }!, latest = arrived.max { $0.at < $1.at }!
            let l = Double(latest.at - first.at) * 1e-9
            late.append((key, latest, l))
            let (n, sum) = last[latest.rank] ?? (0, 0)
            last[latest.rank] = (n + 1, sum + l)
        }
        late.sort { $0.late > $1.late }
        // Only the ten latest are described (each a scan of the late rank's spans).
        let out = late.prefix(10).map { c -> Straggler in
            let parts = c.key.split(separator: "#")
            return Straggler(operation: String(parts[0]), sequence: Int(parts[1]) ?? -1, step: c.latest.step, lastRank: c.latest.rank,
                             late: c.late, previous: doing(trainers.first { $0.rank == c.latest.rank }!, at: c.latest.at))
        }
        let table = last.keys.sorted().map { (rank: $0, times: last[$0]!.0, meanLate: last[$0]!.1 / Double(last[$0]!.0)) }
        return (out, table, late.count)
    }

    /// What `rank` was doing at `at` (rank 0's clock): the spans it was in (a backward's buckets
    /// start inside the micro-batch's backward), outermost first; else the one it came from.
    /// (A bucket's check just before its own allreduce is part of the call, not a cause.)
    static func doing(_ rank: RunRecord.Rank, at: Int64) -> String {
        let candidates = rank.spans.filter { $0.kind != .step && $0.kind != .bucketReady && $0.stream != .comm && $0.stream != .io && $0.end > 0 }
        let inside = candidates.filter { rank.start($0) <= at && at <= rank.end($0) }.sorted { $0.start < $1.start }
        let chain = inside.isEmpty ? candidates.filter { rank.end($0) <= at }.max { $0.end < $1.end }.map { [$0] } ?? [] : inside
        func name(_ s: SpanLine.Decoded) -> String {
            s.kind.name + (s.kind == .microBatch ? " \(s.sequence)" : "") + String(format: " (%.2f ms)", Double(s.end - s.start) * 1e-6)
        }
        return chain.isEmpty ? "-" : (inside.isEmpty ? "after " : "in ") + chain.map(name).joined(separator: " > ")
    }

    static func readMetrics(_ run: String, into r: inout RunReport) throws {
        let path = (run as NSString).appendingPathComponent("metrics.jsonl")
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        for line in text.split(separator: "\n") {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let step = o["step"] as? Int else { continue }
            let loss = (o["loss"] as? Double) ?? .nan
            if o["loss"] != nil { r.losses.append((step, loss, o["reward"] as? Double)) }
            if o["skipped"] as? Bool == true {
                r.skipped.append((step, (o["non_finite"] as? [String])?.joined(separator: "; ") ?? (o["non_finite_gradient"] as? String).map { "non-finite gradient in \($0)" } ?? "non-finite"))
            }
        }
    }

    static func lanes(_ record: RunRecord, steps: Int) -> ([Lane], Double) {
        // The window: the last `steps` complete steps of trainer 0 (rank 0's clock).
        guard let t0 = record.ranks.first(where: \.isTrainer) else { return ([], 0) }
        let done = t0.spans.filter { $0.kind == .step && $0.end > $0.start }
        guard let lastStep = done.last else { return ([], 0) }
        let from = t0.start(done[max(0, done.count - steps)]), to = t0.end(lastStep)
        let lanes = record.ranks.map { k in
            Lane(rank: k.rank, role: k.role, spans: k.spans.filter { $0.end > $0.start && k.end($0) >= from && k.start($0) <= to }.map {
                ($0.stream, $0.kind == .collective ? $0.operation : $0.kind.name,
                 Double(max(k.start($0), from) - from) * 1e-9, Double(min(k.end($0), to) - from) * 1e-9)
            })
        }
        return (lanes, Double(to - from) * 1e-9)
    }
}
