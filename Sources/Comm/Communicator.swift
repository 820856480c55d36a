internal import CMPI
import FlightRecorder
import Foundation

/// A group of ranks that talk to each other: Swift's face of an `MPI_Comm`.
///
/// Obtained from `MPIRuntime.world` or by splitting another communicator. Every call
/// returns MPI failures as `CommError` (the communicator runs with `MPI_ERRORS_RETURN`).
/// All calls must come from the thread that initialised MPI (see `MPIRuntime`).
/// Collective calls must be made by every rank of the communicator in the same order.
public final class Communicator {
    let handle: MPI_Comm
    private let owned: Bool
    /// A duplicate of `handle` on which collective fingerprints are compared (made at the
    /// first checked collective), so the check never matches the checked call's messages.
    var checkHandle: MPI_Comm? = nil
    /// A short name used in error messages and diagnostics ("world", "trainers", ...).
    public let name: String
    /// This process's rank in the communicator, 0..<size.
    public let rank: Int
    /// The number of ranks in the communicator.
    public let size: Int
    /// Collectives called on this communicator so far: the next one's sequence number, the
    /// same on every rank (collectives are called in the same order everywhere).
    public private(set) var collectiveSequence: Int64 = 0
    /// Each member's rank in the world communicator, by rank here.
    public private(set) var worldRanks: [Int] = []

    /// Wraps a predefined communicator (world, self) without taking ownership.
    convenience init(borrowing handle: MPI_Comm, name: String) throws(CommError) {
        try self.init(handle: handle, owned: false, name: name)
    }

    private init(handle: MPI_Comm, owned: Bool, name: String) throws(CommError) {
        self.handle = handle
        self.owned = owned
        self.name = name
        var r: Int32 = 0
        var s: Int32 = 0
        try check(MPI_Comm_rank(handle, &r), "MPI_Comm_rank(\(name))")
        try check(MPI_Comm_size(handle, &s), "MPI_Comm_size(\(name))")
        rank = Int(r)
        size = Int(s)
        worldRanks = try Self.translateToWorld(handle, size: size, name: name)
        FlightRecorder.shared.register(communicator: name, worldRanks: worldRanks)
    }

    /// The world ranks of `handle`'s members.
    private static func translateToWorld(_ handle: MPI_Comm, size: Int, name: String) throws(CommError) -> [Int] {
        var mine: MPI_Group? = nil, world: MPI_Group? = nil
        try check(MPI_Comm_group(handle, &mine), "MPI_Comm_group(\(name))")
        try check(MPI_Comm_group(cmpi_comm_world(), &world), "MPI_Comm_group(world)")
        defer { MPI_Group_free(&mine); MPI_Group_free(&world) }
        var local = (0..<Int32(size)).map { $0 }, out = [Int32](repeating: -1, count: size)
        try check(MPI_Group_translate_ranks(mine, Int32(size), &local, world, &out), "MPI_Group_translate_ranks(\(name))")
        return out.map(Int.init)
    }

    deinit {
        if checkHandle != nil && MPIRuntime.isActive { MPI_Comm_free(&checkHandle) }
        if owned && MPIRuntime.isActive {
            var h: MPI_Comm? = handle
            MPI_Comm_free(&h)
        }
    }

    /// The host this rank runs on.
    public var hostName: String { MPIRuntime.processorName() }

    /// Splits this communicator: ranks passing the same `color` form one new communicator,
    /// ordered by `key` (ties by rank here). A rank passing `nil` joins none and gets `nil`.
    /// Collective: every rank of this communicator must call it.
    public func split(color: Int?, key: Int, name: String) throws(CommError) -> Communicator? {
        let op = "MPI_Comm_split(\(self.name) -> \(name))"
        let c: Int32
        if let color {
            guard color >= 0, color <= Int(Int32.max) else {
                throw CommError.invalidArgument(operation: op, message: "color \(color) must be in 0...\(Int32.max)")
            }
            c = Int32(color)
        } else {
            c = cmpi_undefined()
        }
        var newComm: MPI_Comm? = cmpi_comm_null()
        try check(MPI_Comm_split(handle, c, Int32(truncatingIfNeeded: key), &newComm), op)
        guard let newComm, newComm != cmpi_comm_null() else { return nil }
        try check(MPI_Comm_set_errhandler(newComm, cmpi_errors_return()), "MPI_Comm_set_errhandler(\(name))")
        return try Communicator(handle: newComm, owned: true, name: name)
    }

    /// Blocks until every rank of the communicator has called it.
    public func barrier() throws(CommError) {
        let trace = try beginTrace("MPI_Barrier", bytes: 0)
        defer { endTrace(trace) }
        try check(MPI_Barrier(handle), "MPI_Barrier(\(name))")
    }

    /// Ends the whole job (every rank of every communicator) with `code`.
    /// Use it when one rank cannot go on and the others would otherwise wait for it forever.
    public func abort(code: Int32) -> Never {
        MPI_Abort(handle, code)
        exit(code)
    }

    /// Throws unless `peer` is a rank of this communicator.
    func validate(peer: Int, _ operation: @autoclosure () -> String) throws(CommError) {
        guard peer >= 0 && peer < size else {
            throw CommError.invalidArgument(
                operation: operation(),
                message: "rank \(peer) is not in communicator \(name) of size \(size)")
        }
    }

    func validate(source: Source, _ operation: @autoclosure () -> String) throws(CommError) {
        if case .rank(let r) = source { try validate(peer: r, operation()) }
    }
}

// The flight recorder's view of the collectives: every call is a span on the comm stream
// with this communicator's sequence number, the operation, the bytes and the root or peer.
extension Communicator {
    /// Opens a collective's span (scheduled) and counts it in the sequence.
    /// With `Communicator.checksCollectives`, first compares the call's fingerprint across
    /// the ranks (`Fingerprint`). `blocking`: the caller waits in it (the stall inspector's
    /// clock runs until `endTrace`).
    func beginTrace(_ operation: StaticString, bytes: Int, peer: Int = -1, count: Int = 0, kind: ScalarKind? = nil,
                    reduce: ReduceOp? = nil, blocking: Bool = true) throws(CommError) -> Int64 {
        let seq = collectiveSequence
        collectiveSequence += 1
        if Self.checksCollectives && size > 1 {
            try checkFingerprint(Fingerprint(sequence: seq, operation: "\(operation)", count: count, kind: kind, reduce: reduce, root: peer))
        }
        let recorder = FlightRecorder.shared
        guard recorder.isOn else { return -1 }
        let token = recorder.begin(.collective, .comm, sequence: seq, bytes: Int64(bytes), peer: Int32(peer),
                                   operation: recorder.operation("\(operation)(\(name))"), state: .scheduled)
        if blocking { recorder.beginWaiting(token) }
        return token
    }

    /// Closes a blocking collective's span (completed).
    func endTrace(_ token: Int64) {
        guard token >= 0 else { return }
        FlightRecorder.shared.end(token, state: .completed)
        FlightRecorder.shared.endWaiting()
    }
}
