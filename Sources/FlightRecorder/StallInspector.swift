import Foundation

/// The stall inspector of one rank: a thread that watches what this rank is blocked in (the
/// flight recorder's wait: a collective, a data wait, a reward reply) and, past
/// `warnSeconds`, prints which ranks of the collective have not arrived and what each was
/// last doing, read from their boards (`SharedBoard`), never through MPI: a stopped or
/// spinning rank cannot answer a message, but its board still says what it did last. Past
/// `abortSeconds` (0: never) it dumps every rank's flight recorder into the diag folder and
/// ends this process, which ends the job (mpirun stops the others).
///
/// Every wait the recorder marks therefore has a deadline, blocking MPI calls included, with
/// no change to the call: the inspector's thread never calls MPI.
public final class StallInspector: @unchecked Sendable {
    public struct Rank: Sendable {
        public var role: String, host: String
        /// This rank's monotonic clock minus world rank 0's (ns), from the start's ping-pong.
        public var offset: Int64
        public init(role: String, host: String, offset: Int64) { self.role = role; self.host = host; self.offset = offset }
    }

    let folder: String, liveFolder: String
    let worldRank: Int
    let ranks: [Rank]
    let warnSeconds: Double, abortSeconds: Double
    let recorder: FlightRecorder
    private var thread: Thread?
    private let lock = NSLock()
    private var stopping = false
    /// The wait already reported (its token) and when, so a warning repeats only every warnSeconds.
    private var reported: (token: Int64, at: UInt64)?
    /// What `report` wrote, for tests and the abort.
    public private(set) var lastReport: String?

    /// `folder`: RUN/diag; the boards are in `folder/live`.
    public init(folder: String, worldRank: Int, ranks: [Rank], warnSeconds: Double, abortSeconds: Double, recorder: FlightRecorder = .shared) {
        self.folder = folder
        liveFolder = (folder as NSString).appendingPathComponent("live")
        self.worldRank = worldRank
        self.ranks = ranks
        self.warnSeconds = warnSeconds
        self.abortSeconds = abortSeconds
        self.recorder = recorder
    }

    public static func stallFile(_ rank: Int) -> String { String(format: "stalls_%02d.jsonl", rank) }

    /// Starts watching (twice a second; each look also stamps this rank's heartbeat).
    public func start() {
        let t = Thread { [self] in
            while !lock.withLock({ stopping }) {
                recorder.beat()
                look()
                usleep(250_000)
            }
        }
        t.name = "uso-stall-inspector"
        thread = t
        t.start()
    }

    public func stop() {
        lock.withLock { stopping = true }
        while let t = thread, t.isExecuting { usleep(1000) }
        thread = nil
    }

    /// One look: warn once per warnSeconds of a wait, abort past abortSeconds.
    func look() {
        guard let (token, span, since) = recorder.waiting() else { return }
        let now = FlightRecorder.now()
        let waited = Double(now - since) * 1e-9
        guard waited >= warnSeconds else { return }
        let aborting = abortSeconds > 0 && waited >= abortSeconds
        if !aborting, let r = reported, r.token == token, Double(now - r.at) * 1e-9 < warnSeconds { return }
        reported = (token, now)
        let text = report(span: span, waited: waited, now: now, aborting: aborting)
        lastReport = text
        FileHandle.standardError.write(Data((text + "\n").utf8))
        appendStall(text: text, span: span, waited: waited, aborting: aborting)
        if aborting { abortJob() }
    }

    func describe(_ rank: Int) -> String {
        rank < ranks.count ? "rank \(rank) (\(ranks[rank].role), host \(ranks[rank].host))" : "rank \(rank)"
    }

    static func bytes(_ n: Int64) -> String {
        n < 1000 ? "\(n) B" : n < 1_000_000 ? String(format: "%.1f kB", Double(n) / 1e3) : String(format: "%.2f MB", Double(n) / 1e6)
    }

    /// A span as a reader wants it: "micro-batch 2 of step 17" / "MPI_Iallreduce(trainers) #31, 4.2 MB".
    static func describe(_ s: Span, name: String) -> String {
        var text = s.kind == .collective ? "\(name) #\(s.sequence)" : s.kind.name
        if s.kind == .microBatch { text += " \(s.sequence)" }
        if s.bytes > 0 && s.kind != .microBatch { text += ", " + bytes(s.bytes) }
        if s.peer >= 0 && s.kind != .microBatch { text += s.kind == .collective ? ", root \(s.peer)" : ", rank \(s.peer)" }
        if s.step >= 0 { text += " (step \(s.step))" }
        return text
    }

    /// The report of this rank's wait in `span`: for a collective, every other member's board
    /// (arrived or not, and what a missing one was doing); for a reward wait, the reward
    /// rank's; for a data wait, this rank's own state.
    public func report(span: Span, waited: Double, now: UInt64, aborting: Bool) -> String {
        let name = recorder.operationName(span.operation)
        var lines = [String(format: "uso: stall on %@: waiting %.1f s in %@", describe(worldRank), waited, Self.describe(span, name: name))]
        let myOffset = worldRank < ranks.count ? ranks[worldRank].offset : 0
        // Another rank's timestamp on this rank's clock.
        func local(_ t: UInt64, of r: Int) -> Int64 { Int64(t) - (r < ranks.count ? ranks[r].offset : 0) + myOffset }
        func age(_ t: UInt64, of r: Int) -> Double { Double(Int64(now) - local(t, of: r)) * 1e-9 }
        func doing(_ b: SharedBoard.Snapshot) -> String {
            var parts: [String] = []
            if let w = b.waiting, w != b.current {
                parts.append(String(format: "itself waiting %.1f s in %@", age(b.waitingSince, of: b.rank), Self.describe(w, name: b.operationName(w))))
            }
            if let c = b.current {
                let state = c == b.waiting ? String(format: "waiting in it for %.1f s", age(b.waitingSince, of: b.rank))
                    : c.end == 0 ? String(format: "open for %.1f s", age(c.start, of: b.rank)) : String(format: "ended %.1f s ago", age(c.end, of: b.rank))
                parts.append("last span \(Self.describe(c, name: b.operationName(c))), \(state)")
            } else {
                parts.append("no span recorded")
            }
            let beat = age(b.heartbeat, of: b.rank)
            parts.append(beat > 1 ? String(format: "heartbeat %.1f s old: the process is stopped or gone (pid %d)", beat, b.pid)
                                  : "heartbeat live (pid \(b.pid))")
            return parts.joined(separator: "; ")
        }
        func board(_ r: Int) -> SharedBoard.Snapshot? { SharedBoard.read((liveFolder as NSString).appendingPathComponent(SharedBoard.fileName(rank: r))) }

        if span.kind == .collective, let open = name.firstIndex(of: "("), name.hasSuffix(")") {
            let comm = String(name[name.index(after: open)..<name.index(before: name.endIndex)])
            let members = recorder.members(of: comm) ?? []
            var arrived: [Int] = []
            for r in members where r != worldRank {
                guard let b = board(r) else { lines.append("  \(describe(r)): no board in \(liveFolder) (not on this filesystem?)"); continue }
                let last = b.lastCollective(on: comm)
                if let last, last.sequence >= span.sequence {
                    // Arrived; but a non-blocking collective completes only while every rank
                    // drives it: a rank stopped, or computing without calling MPI, holds it up.
                    let drives = b.waiting.map { $0.kind == .collective && b.operationName($0).hasSuffix("(\(comm))") } ?? false
                    if drives && age(b.heartbeat, of: r) <= 1 { arrived.append(r); continue }
                    lines.append("  arrived, not progressing it: \(describe(r)): \(doing(b))")
                    continue
                }
                let at = last.map { "its last collective on \(comm) is #\($0.sequence)" } ?? "no collective on \(comm) in its ring"
                lines.append("  not arrived: \(describe(r)): \(at); \(doing(b))")
            }
            if !arrived.isEmpty { lines.append("  arrived: " + arrived.map { "rank \($0)" }.joined(separator: ", ")) }
            if members.isEmpty { lines.append("  (communicator \(comm)'s members are unknown)") }
        } else if span.kind == .rewardReceive, span.peer >= 0 {
            if let b = board(Int(span.peer)) { lines.append("  reward \(describe(Int(span.peer))): \(doing(b))") }
        } else if span.kind == .dataWait {
            lines.append("  the data loader of this rank has not delivered step \(span.step)'s samples (a slow or stuck filesystem?)")
        }
        if aborting {
            lines.append(String(format: "  ending the job: waited more than diag.stall_abort_s = %.0f s; every rank's flight recorder is in %@", abortSeconds, folder))
        } else if abortSeconds > 0 {
            lines.append(String(format: "  (the job ends after %.0f s of this wait: diag.stall_abort_s)", abortSeconds))
        }
        return lines.joined(separator: "\n")
    }

    /// One JSON line per warning in RUN/diag/stalls_RR.jsonl (for uso diag report and tests).
    func appendStall(text: String, span: Span, waited: Double, aborting: Bool) {
        let record: [String: Any] = ["rank": worldRank, "time_unix": Date().timeIntervalSince1970, "waited_s": waited,
                                     "kind": span.kind.name, "step": Int(span.step), "seq": Int(span.sequence),
                                     "aborting": aborting, "report": text]
        guard let data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]) else { return }
        let path = (folder as NSString).appendingPathComponent(Self.stallFile(worldRank))
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let line = data + Data("\n".utf8)
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// Dumps every rank's board into RUN/diag/rank_RR.jsonl (one rank does: the first to
    /// create the lock file), then ends this process; mpirun ends the rest of the job.
    func abortJob() -> Never {
        let lockPath = (folder as NSString).appendingPathComponent("stall-dump.lock")
        let fd = open(lockPath, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        if fd >= 0 {
            for r in ranks.indices {
                let boardPath = (liveFolder as NSString).appendingPathComponent(SharedBoard.fileName(rank: r))
                if let b = SharedBoard.read(boardPath) {
                    try? SharedBoard.dump(b, to: (folder as NSString).appendingPathComponent(String(format: "rank_%02d.jsonl", r)))
                }
            }
            _ = "dumped by rank \(worldRank)\n".withCString { write(fd, $0, strlen($0)) }
            close(fd)
        } else {
            // Another rank dumps: give it time to finish before this exit ends the job.
            for _ in 0..<100 {
                if let text = try? String(contentsOfFile: lockPath, encoding: .utf8), text.hasPrefix("dumped") { break }
                usleep(100_000)
            }
        }
        FileHandle.standardError.write(Data("uso: rank \(worldRank) ends the job (stall)\n".utf8))
        _exit(3)
    }
}
