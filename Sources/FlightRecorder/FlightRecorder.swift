import Foundation

/// What a recorded span is: a phase of a step, a collective, a reward message, a save.
public enum SpanKind: UInt8, Sendable, CaseIterable {
    case step, dataWait, microBatch, bucketReady, collective, optimizer, rewardSend, rewardReceive, rewardServe
    case checkpointCopy, checkpointWrite, syncWait, forward, backward

    public var name: String {
        switch self {
        case .step: return "step"
        case .dataWait: return "data wait"
        case .microBatch: return "micro-batch"
        case .bucketReady: return "bucket ready"
        case .collective: return "collective"
        case .optimizer: return "optimizer"
        case .rewardSend: return "reward send"
        case .rewardReceive: return "reward receive"
        case .rewardServe: return "reward serve"
        case .checkpointCopy: return "checkpoint copy"
        case .checkpointWrite: return "checkpoint write"
        case .syncWait: return "sync wait"
        case .forward: return "forward"
        case .backward: return "backward"
        }
    }
}

/// The timeline row a span belongs to (a Chrome trace's thread).
public enum SpanStream: UInt8, Sendable, CaseIterable {
    case compute, comm, reward, io
    public var name: String { ["compute", "comm", "reward", "io"][Int(rawValue)] }
}

/// Where a collective is: called (scheduled), or seen complete by a test or wait.
public enum CollectiveState: UInt8, Sendable {
    case none, scheduled, completed
    public var name: String { ["", "scheduled", "completed"][Int(rawValue)] }
}

/// One span: plain values only, so the ring holds them without allocating.
public struct Span: Sendable, Equatable {
    public var kind: SpanKind
    public var stream: SpanStream
    public var state: CollectiveState = .none
    /// The collective's operation (`Comm`'s names, "MPI_Iallreduce" ...), as an index into
    /// `FlightRecorder.operationNames`; 0: none.
    public var operation: UInt16 = 0
    public var step: Int32 = -1
    /// The communicator's sequence number of a collective, or a micro-batch / bucket index.
    public var sequence: Int64 = -1
    public var bytes: Int64 = 0
    /// The peer or root rank; -1: none.
    public var peer: Int32 = -1
    /// Monotonic nanoseconds (this process's clock: `uso diag` aligns the ranks).
    public var start: UInt64
    public var end: UInt64 = 0

    public init(kind: SpanKind, stream: SpanStream, start: UInt64) {
        self.kind = kind
        self.stream = stream
        self.start = start
    }
}

/// The always-on flight recorder of one rank: the last `capacity` spans in a preallocated
/// ring (recording never allocates), appended to `RUN/diag/rank_RR.jsonl` by `flush`.
///
/// Spans are opened with `begin` (a token) and closed with `end`, or recorded whole with
/// `record`. A token whose slot the ring has since reused is ignored at `end`. Thread-safe
/// (one lock; the background checkpoint writer records from its thread).
public final class FlightRecorder: @unchecked Sendable {   // every field under `lock`
    /// This process's recorder (off until `configure`).
    public static let shared = FlightRecorder()

    public private(set) var capacity = 0
    private var ring: UnsafeMutablePointer<Span>?
    /// The mapped board file holding the ring (nil: the ring is private memory).
    private var board: UnsafeMutableRawPointer?
    private var boardBytes = 0
    /// Where the board is (nil without one).
    public private(set) var boardPath: String?
    /// Spans recorded so far (the ring holds the last `capacity` of them).
    private var written: Int64 = 0 { didSet { board?.storeBytes(of: written, toByteOffset: SharedBoard.writtenOffset, as: Int64.self) } }
    private var flushed: Int64 = 0 { didSet { board?.storeBytes(of: flushed, toByteOffset: SharedBoard.flushedOffset, as: Int64.self) } }
    private let lock = NSLock()
    public private(set) var isOn = false
    /// Recording suspended (`uso bench diag` alternates steps with and without it).
    public var paused: Bool {
        get { lock.withLock { isPaused } }
        set { lock.withLock { isPaused = newValue } }
    }
    private var isPaused = false
    /// Seconds spent in `flush` so far (its cost, which falls between steps).
    public private(set) var flushSeconds = 0.0
    /// Operation names, interned (index 0 is "").
    public private(set) var operationNames: [String] = [""]
    private var operationIndex: [String: UInt16] = [:]
    /// The step spans are tagged with.
    public var currentStep: Int32 {
        get { lock.withLock { step } }
        set {
            lock.withLock {
                step = newValue
                board?.storeBytes(of: newValue, toByteOffset: SharedBoard.stepOffset, as: Int32.self)
            }
        }
    }
    private var step: Int32 = -1
    /// Spans the ring overwrote before a flush (lost).
    public private(set) var dropped: Int64 = 0
    /// The span this rank is blocked in (a collective, a data or reward wait), and since when.
    private var waitToken: Int64 = -1
    private var waitSince: UInt64 = 0
    /// Communicators by name, with their members' world ranks (for the stall inspector).
    public private(set) var communicators: [String: [Int]] = [:]

    public init() {}

    /// Allocates the ring and switches recording on (`capacity` 0: off). With `board`, the
    /// ring lives in that memory-mapped file (`SharedBoard`), readable by other ranks.
    public func configure(capacity: Int, board identity: (path: String, rank: Int, role: String, host: String)? = nil) throws {
        try lock.withLock {
            release()
            self.capacity = max(0, capacity)
            isOn = capacity > 0
            if isOn {
                if let identity {
                    let base = try SharedBoard.create(path: identity.path, capacity: capacity, rank: identity.rank, role: identity.role, host: identity.host)
                    board = base
                    boardBytes = SharedBoard.byteCount(capacity: capacity)
                    boardPath = identity.path
                    ring = (base + SharedBoard.spansOffset).bindMemory(to: Span.self, capacity: capacity)
                } else {
                    ring = .allocate(capacity: capacity)
                }
                ring!.initialize(repeating: Span(kind: .step, stream: .compute, start: 0), count: capacity)
                for (i, name) in operationNames.enumerated() { storeName(name, at: i) }
            }
            written = 0
            flushed = 0
            dropped = 0
            waitToken = -1
        }
    }

    /// Unmaps or frees the ring (under `lock`).
    private func release() {
        if let board {
            munmap(board, boardBytes)
        } else {
            ring?.deallocate()
        }
        board = nil
        boardPath = nil
        ring = nil
    }

    /// Stops recording and removes the board file (a clean end of the job).
    public func close(removingBoard: Bool) {
        lock.withLock {
            let path = boardPath
            release()
            isOn = false
            capacity = 0
            if removingBoard, let path { unlink(path) }
        }
    }

    private func storeName(_ name: String, at i: Int) {
        guard let board, i < SharedBoard.nameSlots else { return }
        SharedBoard.put(name, at: board + SharedBoard.namesOffset + i * SharedBoard.nameBytes, bytes: SharedBoard.nameBytes)
        board.storeBytes(of: UInt32(min(SharedBoard.nameSlots, i + 1)), toByteOffset: SharedBoard.nameCountOffset, as: UInt32.self)
    }

    /// Names a communicator's members by world rank (the stall inspector reads them).
    public func register(communicator name: String, worldRanks: [Int]) {
        lock.withLock { communicators[name] = worldRanks }
    }

    /// A communicator's members by world rank (nil: not registered).
    public func members(of communicator: String) -> [Int]? { lock.withLock { communicators[communicator] } }

    /// An interned operation's name ("" when unknown).
    public func operationName(_ index: UInt16) -> String {
        lock.withLock { Int(index) < operationNames.count ? operationNames[Int(index)] : "" }
    }

    /// Marks this rank as blocked in the span of `token` from now (the stall inspector's clock).
    public func beginWaiting(_ token: Int64) {
        guard token >= 0 else { return }
        lock.withLock {
            waitToken = token
            waitSince = Self.now()
            board?.storeBytes(of: waitSince, toByteOffset: SharedBoard.waitSinceOffset, as: UInt64.self)
            board?.storeBytes(of: token, toByteOffset: SharedBoard.waitTokenOffset, as: Int64.self)
        }
    }

    /// This rank is no longer blocked.
    public func endWaiting() {
        lock.withLock {
            guard waitToken >= 0 else { return }
            waitToken = -1
            board?.storeBytes(of: Int64(-1), toByteOffset: SharedBoard.waitTokenOffset, as: Int64.self)
        }
    }

    /// What this rank is blocked in: the span, its token and since when (nil: not blocked).
    public func waiting() -> (token: Int64, span: Span, since: UInt64)? {
        lock.withLock {
            guard let ring, waitToken >= 0, waitToken >= written - Int64(capacity), waitToken < written else { return nil }
            return (waitToken, ring[Int(waitToken % Int64(capacity))], waitSince)
        }
    }

    /// Stamps the board's heartbeat (the stall inspector's thread does, twice a second): a
    /// heartbeat that stops advancing says the process is stopped or gone.
    public func beat() {
        lock.withLock { board?.storeBytes(of: Self.now(), toByteOffset: SharedBoard.heartbeatOffset, as: UInt64.self) }
    }

    deinit { release() }

    @inline(__always) public static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// The index of an operation's name, interned on first use.
    public func operation(_ name: String) -> UInt16 {
        lock.withLock {
            if let i = operationIndex[name] { return i }
            let i = UInt16(truncatingIfNeeded: operationNames.count)
            operationNames.append(name)
            operationIndex[name] = i
            storeName(name, at: Int(i))
            return i
        }
    }

    /// Opens a span; returns its token for `end` (-1 when recording is off).
    @discardableResult
    public func begin(_ kind: SpanKind, _ stream: SpanStream, sequence: Int64 = -1, bytes: Int64 = 0, peer: Int32 = -1,
                      operation: UInt16 = 0, state: CollectiveState = .none) -> Int64 {
        lock.withLock {
            guard isOn, !isPaused, let ring else { return -1 }
            var s = Span(kind: kind, stream: stream, start: Self.now())
            s.step = step; s.sequence = sequence; s.bytes = bytes; s.peer = peer; s.operation = operation; s.state = state
            let token = written
            if written - flushed >= Int64(capacity) { dropped += 1; flushed += 1 }
            ring[Int(token % Int64(capacity))] = s
            written += 1
            return token
        }
    }

    /// Closes the span of `token` now (and sets its collective state, if given); a span
    /// already closed keeps its end.
    public func end(_ token: Int64, state: CollectiveState? = nil) {
        guard token >= 0 else { return }
        lock.withLock {
            guard let ring, token >= written - Int64(capacity), token < written else { return }
            let i = Int(token % Int64(capacity))
            guard ring[i].end == 0 else { return }   // closed once
            ring[i].end = Self.now()
            if let state { ring[i].state = state }
        }
    }

    /// Records a span that started at `start` and ends now.
    public func record(_ kind: SpanKind, _ stream: SpanStream, since start: UInt64, sequence: Int64 = -1, bytes: Int64 = 0, peer: Int32 = -1) {
        let t = begin(kind, stream, sequence: sequence, bytes: bytes, peer: peer)
        guard t >= 0 else { return }
        lock.withLock {
            guard let ring else { return }
            let i = Int(t % Int64(capacity))
            ring[i].start = start
            ring[i].end = Self.now()
        }
    }

    /// The spans not yet flushed, oldest first (an open span has end 0).
    public func pending() -> [Span] {
        lock.withLock {
            guard let ring else { return [] }
            return (flushed..<written).map { ring[Int($0 % Int64(capacity))] }
        }
    }

    /// The last span recorded, if any (what a stalled rank was doing).
    public func last() -> Span? {
        lock.withLock {
            guard let ring, written > 0 else { return nil }
            return ring[Int((written - 1) % Int64(capacity))]
        }
    }

    /// Appends the spans recorded since the last flush, closed ones only up to the first
    /// open one (so a span is written once, complete), to `path` as JSON lines.
    public func flush(to path: String) throws {
        let t0 = Self.now()
        defer { let dt = Double(Self.now() - t0) * 1e-9; lock.withLock { flushSeconds += dt } }
        let (spans, names) = lock.withLock { () -> ([Span], [String]) in
            guard let ring else { return ([], operationNames) }
            var out: [Span] = []
            var k = flushed
            while k < written {
                let s = ring[Int(k % Int64(capacity))]
                if s.end == 0 { break }
                out.append(s)
                k += 1
            }
            flushed = k
            return (out, operationNames)
        }
        guard !spans.isEmpty else { return }
        var text = ""
        for s in spans { text += SpanLine.encode(s, names: names) + "\n" }
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: path) else { throw RecorderError("\(path): cannot open to append the flight recorder") }
        defer { try? h.close() }
        do {
            try h.seekToEnd()
            try h.write(contentsOf: Data(text.utf8))
        } catch { throw RecorderError("\(path): cannot append the flight recorder: \(error.localizedDescription)") }
    }
}

/// A flight-recorder failure naming the file.
public struct RecorderError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One span as a line of `RUN/diag/rank_RR.jsonl`, and back.
public enum SpanLine {
    public static func encode(_ s: Span, names: [String]) -> String {
        let op = Int(s.operation) < names.count ? names[Int(s.operation)] : ""
        return "{\"kind\":\"\(s.kind.name)\",\"stream\":\"\(s.stream.name)\",\"op\":\"\(op)\",\"state\":\"\(s.state.name)\",\"step\":\(s.step),"
            + "\"seq\":\(s.sequence),\"bytes\":\(s.bytes),\"peer\":\(s.peer),\"t0\":\(s.start),\"t1\":\(s.end)}"
    }

    /// A decoded line: the span's fields with its operation name.
    public struct Decoded: Sendable, Equatable {
        public var kind: SpanKind, stream: SpanStream, operation: String, state: CollectiveState
        public var step: Int, sequence: Int, bytes: Int, peer: Int
        public var start: UInt64, end: UInt64
    }

    /// Decodes one line; nil when it is not a span line (a cut-off last line of a run still going).
    public static func decode(_ line: Substring) -> Decoded? {
        guard let data = line.data(using: .utf8), let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let kind = SpanKind.allCases.first(where: { $0.name == o["kind"] as? String }),
              let stream = SpanStream.allCases.first(where: { $0.name == o["stream"] as? String }),
              let t0 = (o["t0"] as? NSNumber)?.uint64Value, let t1 = (o["t1"] as? NSNumber)?.uint64Value else { return nil }
        let state = ["scheduled": CollectiveState.scheduled, "completed": .completed][o["state"] as? String ?? ""] ?? CollectiveState.none
        return Decoded(kind: kind, stream: stream, operation: o["op"] as? String ?? "", state: state, step: o["step"] as? Int ?? -1,
                       sequence: o["seq"] as? Int ?? -1, bytes: o["bytes"] as? Int ?? 0, peer: o["peer"] as? Int ?? -1, start: t0, end: t1)
    }
}
