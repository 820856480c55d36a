internal import CMPI
import Foundation

/// The count and displacement arrays of a vector collective, kept (with the buffers' owner)
/// until the request completes: MPI may read them at any time before then.
final class VectorArguments {
    let counts: UnsafeMutablePointer<Int32>
    let displacements: UnsafeMutablePointer<Int32>
    let owner: AnyObject?

    init(counts: [Int], owner: AnyObject?, _ what: @autoclosure () -> String) throws(CommError) {
        self.counts = .allocate(capacity: max(1, counts.count))
        displacements = .allocate(capacity: max(1, counts.count))
        self.owner = owner
        var offset = 0
        for (i, c) in counts.enumerated() {
            guard let n = try? mpiCount(c, what()), let d = try? mpiCount(offset, what()) else {
                deallocate()
                throw CommError.invalidArgument(operation: what(), message: "count \(c) at offset \(offset) is outside MPI's int range")
            }
            self.counts[i] = n
            displacements[i] = d
            offset += c
        }
    }

    private func deallocate() {
        counts.deallocate()
        displacements.deallocate()
    }

    deinit { deallocate() }
}

// Partitioned collectives: each rank owns one contiguous part of a buffer (ZeRO-1's optimizer
// sharding). Rank r's part is `counts[r]` elements, the parts back to back in rank order.
extension Communicator {
    /// Starts a reduce-scatter: `send` (the sum of `counts`, the same on every rank) is reduced
    /// element-wise over all ranks, and rank r receives the reduced elements of its part
    /// (`counts[r]` of them, from the sum of the counts before it) into `receive`.
    /// `owner` keeps both buffers alive until the request completes.
    public func ireduceScatter<T: MPIScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>,
                                             counts: [Int], op: ReduceOp, keepingAlive owner: AnyObject?) throws(CommError) -> Request {
        let what = "MPI_Ireduce_scatter(\(name), \(op), \(send.count) x \(T.scalarKind) in parts \(counts))"
        try checkParts(counts, total: send.count, mine: receive.count, what)
        let arguments = try VectorArguments(counts: counts, owner: owner, what)
        var request: MPI_Request? = cmpi_request_null()
        let trace = try beginTrace("MPI_Ireduce_scatter", bytes: send.count * MemoryLayout<T>.stride, count: send.count, kind: T.scalarKind,
                                   reduce: op, blocking: false)
        try check(MPI_Ireduce_scatter(send.baseAddress, receive.baseAddress, arguments.counts, T.scalarKind.datatype, op.handle,
                                      handle, &request), what)
        let r = Request(handle: request, operation: what, peer: nil, isReceive: false, scalarKind: T.scalarKind, keepAlive: arguments)
        r.trace = trace
        return r
    }

    /// Starts an in-place allgather of parts: rank r's part of `buffer` (`counts[r]` elements
    /// from the sum of the counts before it) is sent to every rank, which receives every part
    /// at its place. `owner` keeps the buffer alive until the request completes.
    public func iallgather<T: MPIScalar>(unsafeInPlace buffer: UnsafeMutableBufferPointer<T>, counts: [Int],
                                         keepingAlive owner: AnyObject?) throws(CommError) -> Request {
        let what = "MPI_Iallgatherv(\(name), in place, \(buffer.count) x \(T.scalarKind) in parts \(counts))"
        try checkParts(counts, total: buffer.count, mine: nil, what)
        let arguments = try VectorArguments(counts: counts, owner: owner, what)
        var request: MPI_Request? = cmpi_request_null()
        let trace = try beginTrace("MPI_Iallgatherv", bytes: buffer.count * MemoryLayout<T>.stride, count: buffer.count, kind: T.scalarKind,
                                   blocking: false)
        try check(MPI_Iallgatherv(cmpi_in_place(), 0, T.scalarKind.datatype, buffer.baseAddress, arguments.counts,
                                  arguments.displacements, T.scalarKind.datatype, handle, &request), what)
        let r = Request(handle: request, operation: what, peer: nil, isReceive: false, scalarKind: T.scalarKind, keepAlive: arguments)
        r.trace = trace
        return r
    }

    private func checkParts(_ counts: [Int], total: Int, mine: Int?, _ what: @autoclosure () -> String) throws(CommError) {
        guard counts.count == size else {
            throw CommError.invalidArgument(operation: what(), message: "\(counts.count) part counts for \(size) ranks")
        }
        guard counts.allSatisfy({ $0 >= 0 }), counts.reduce(0, +) == total else {
            throw CommError.invalidArgument(operation: what(), message: "the parts \(counts) do not add up to the buffer's \(total) elements")
        }
        if let mine, mine != counts[rank] {
            throw CommError.invalidArgument(operation: what(), message: "the receive buffer holds \(mine) elements, rank \(rank)'s part \(counts[rank])")
        }
    }
}
