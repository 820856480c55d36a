internal import CMPI
import FlightRecorder
import Foundation

/// What a completed operation reports: who sent, with which tag, how many elements.
public struct Status: Sendable, Equatable {
    /// The sending rank (receives), or the peer/`nil` for other operations.
    public let source: Int?
    /// The message tag (receives), or `nil` for other operations.
    public let tag: Int?
    /// Elements received (receives), or `nil` for other operations.
    public let count: Int?
    /// True when the operation was cancelled instead of completing.
    public let cancelled: Bool
}

/// A non-blocking operation in flight: send, receive, allreduce or barrier.
///
/// The request keeps its buffer alive until the operation completes. Completion is
/// observed with `test()` (which also drives MPI's progress), `wait()`, `wait(timeout:)`
/// (which throws `CommError.deadlineExceeded` naming the operation and the peer, and
/// leaves the request in flight so a late completion can still be matched), or the
/// static `waitAny` / `waitAll`.
public final class Request {
    var handle: MPI_Request?
    /// What the request does, for messages: "MPI_Irecv(world, from 3, tag 7, 128 x float32)".
    public let operation: String
    /// The rank on the other end, when there is exactly one.
    public let peer: Int?
    private let isReceive: Bool
    private let scalarKind: ScalarKind?
    private let keepAlive: AnyObject?
    /// The status, once the request has completed (which closes its flight-recorder span).
    public private(set) var status: Status? {
        didSet { if status != nil && oldValue == nil && trace >= 0 { FlightRecorder.shared.end(trace, state: .completed) } }
    }
    /// The request's span in the flight recorder (-1: none).
    var trace: Int64 = -1

    init(handle: MPI_Request?, operation: String, peer: Int?, isReceive: Bool,
         scalarKind: ScalarKind?, keepAlive: AnyObject?) {
        self.handle = handle
        self.operation = operation
        self.peer = peer
        self.isReceive = isReceive
        self.scalarKind = scalarKind
        self.keepAlive = keepAlive
    }

    deinit {
        guard status == nil, MPIRuntime.isActive, handle != nil, handle != cmpi_request_null() else { return }
        if isReceive {
            // A receive nobody waits for: cancel it, then complete it locally.
            MPI_Cancel(&handle)
            MPI_Wait(&handle, cmpi_status_ignore())
        } else {
            // A send or collective still in flight: let MPI finish it, and keep its buffer
            // alive for good, since MPI may still read or write it.
            if let keepAlive { _ = Unmanaged.passRetained(keepAlive) }
            MPI_Request_free(&handle)
        }
    }

    /// True once the operation has completed.
    public var isComplete: Bool { status != nil }

    /// Returns whether the operation has completed, without blocking; drives progress.
    @discardableResult
    public func test() throws(CommError) -> Bool {
        if status != nil { return true }
        var flag: Int32 = 0
        var raw = MPI_Status()
        try check(MPI_Test(&handle, &flag, &raw), "MPI_Test for \(operation)")
        if flag != 0 { status = makeStatus(raw) }
        return flag != 0
    }

    /// Blocks until the operation completes.
    @discardableResult
    public func wait() throws(CommError) -> Status {
        if let status { return status }
        var raw = MPI_Status()
        FlightRecorder.shared.beginWaiting(trace)
        defer { if trace >= 0 { FlightRecorder.shared.endWaiting() } }
        try check(MPI_Wait(&handle, &raw), "MPI_Wait for \(operation)")
        let s = makeStatus(raw)
        status = s
        return s
    }

    /// Waits at most `timeout` seconds. On expiry throws `deadlineExceeded` naming the
    /// operation and the peer; the request stays in flight and may be waited on again.
    @discardableResult
    public func wait(timeout: Double) throws(CommError) -> Status {
        let poller = DeadlinePoller(timeout: timeout)
        FlightRecorder.shared.beginWaiting(trace)
        defer { if trace >= 0 { FlightRecorder.shared.endWaiting() } }
        while true {
            if try test() { return status! }
            if poller.expired {
                throw CommError.deadlineExceeded(operation: operation, peer: peer, seconds: timeout)
            }
            poller.pause()
        }
    }

    /// Cancels a receive that has not matched yet. Completes the request (its status then
    /// says `cancelled` unless a message had already matched).
    public func cancel() throws(CommError) {
        guard status == nil else { return }
        guard isReceive else {
            throw CommError.invalidArgument(operation: "cancel \(operation)",
                                            message: "only receives can be cancelled")
        }
        try check(MPI_Cancel(&handle), "MPI_Cancel for \(operation)")
        _ = try wait()
    }

    /// Waits until one of `requests` completes and returns its index and status.
    /// Already-completed requests are skipped; all completed is an error.
    public static func waitAny(_ requests: [Request], timeout: Double? = nil) throws(CommError) -> (index: Int, status: Status) {
        let pending = requests.indices.filter { !requests[$0].isComplete }
        guard !pending.isEmpty else {
            throw CommError.invalidArgument(operation: "waitAny", message: "every request has already completed")
        }
        let poller = timeout.map { DeadlinePoller(timeout: $0) }
        while true {
            for i in pending where try requests[i].test() {
                return (i, requests[i].status!)
            }
            if let poller {
                if poller.expired {
                    let names = pending.map { requests[$0].operation }.joined(separator: "; ")
                    let peers = Set(pending.compactMap { requests[$0].peer })
                    throw CommError.deadlineExceeded(operation: "waitAny over [\(names)]",
                                                     peer: peers.count == 1 ? peers.first : nil,
                                                     seconds: timeout!)
                }
                poller.pause()
            } else {
                sched_yield()
            }
        }
    }

    /// Waits until every request completes; throws the first failure.
    public static func waitAll(_ requests: [Request], timeout: Double? = nil) throws(CommError) {
        for r in requests {
            if let timeout { try r.wait(timeout: timeout) } else { try r.wait() }
        }
    }

    private func makeStatus(_ raw: MPI_Status) -> Status {
        guard isReceive else { return Status(source: peer, tag: nil, count: nil, cancelled: false) }
        var copy = raw
        var cancelled: Int32 = 0
        MPI_Test_cancelled(&copy, &cancelled)
        if cancelled != 0 { return Status(source: nil, tag: nil, count: nil, cancelled: true) }
        var count: Int32 = 0
        if let kind = scalarKind { MPI_Get_count(&copy, kind.datatype, &count) }
        return Status(source: Int(cmpi_status_source(&copy)), tag: Int(cmpi_status_tag(&copy)),
                      count: Int(count), cancelled: false)
    }
}

/// Polls a deadline: spins with `sched_yield` for the first millisecond (low latency),
/// then sleeps in growing steps up to 1 ms (so an idle rank leaves the core to others).
struct DeadlinePoller {
    let start = DispatchTime.now().uptimeNanoseconds
    let limit: UInt64

    init(timeout: Double) {
        limit = UInt64(max(0, timeout) * 1e9)
    }

    var elapsed: UInt64 { DispatchTime.now().uptimeNanoseconds - start }
    var expired: Bool { elapsed >= limit }

    func pause() {
        if elapsed < 1_000_000 {
            sched_yield()
        } else {
            usleep(min(1000, UInt32(max(50, elapsed / 20_000))))
        }
    }
}
