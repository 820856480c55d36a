import Foundation

/// What a recorded span is: a phase of a step, a collective, a reward message, a save.
public enum SpanKind: UInt8, Sendable, CaseIterable {
    case step, dataWait, microBatch, bucketReady, collective, optimizer, rewardSend, rewardReceive, rewardServe
    case checkpointCopy, checkpointWrite

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
    /// Spans recorded so far (the ring holds the last `capacity` of them).
    private var written: Int64 = 0
    private var flushed: Int64 = 0
    private let lock = NSLock()
    public private(set) var isOn = false
    /// Operation names, interned (index 0 is "").
    public private(set) var operationNames: [String] = [""]
    private var operationIndex: [String: UInt16] = [:]
    /// The step spans are tagged with.
    public var currentStep: Int32 {
        get { lock.withLock { step } }
        set { lock.withLock { step = newValue } }
    }
    private var step: Int32 = -1
    /// Spans the ring overwrote before a flush (lost).
    public private(set) var dropped: Int64 = 0

    public init() {}

    /// Allocates the ring and switches recording on (`capacity` 0: off).
    public func configure(capacity: Int) {
        lock.withLock {
            ring?.deallocate()
            ring = nil
            self.capacity = max(0, capacity)
            isOn = capacity > 0
            if isOn {
                ring = .allocate(capacity: capacity)
                ring!.initialize(repeating: Span(kind: .step, stream: .compute, start: 0), count: capacity)
            }
            written = 0
            flushed = 0
            dropped = 0
        }
    }

    deinit { ring?.deallocate() }

    @inline(__always) public static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// The index of an operation's name, interned on first use.
    public func operation(_ name: String) -> UInt16 {
        lock.withLock {
            if let i = operationIndex[name] { return i }
            let i = UInt16(truncatingIfNeeded: operationNames.count)
            operationNames.append(name)
            operationIndex[name] = i
            return i
        }
    }

    /// Opens a span; returns its token for `end` (-1 when recording is off).
    @discardableResult
    public func begin(_ kind: SpanKind, _ stream: SpanStream, sequence: Int64 = -1, bytes: Int64 = 0, peer: Int32 = -1,
                      operation: UInt16 = 0, state: CollectiveState = .none) -> Int64 {
        lock.withLock {
            guard isOn, let ring else { return -1 }
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
