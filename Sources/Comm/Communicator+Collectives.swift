internal import CMPI

/// Blocking collectives: broadcast, allreduce, allgather, gather.
///
/// Each comes in an array form (convenient, copies) and, where the hot path needs it, a
/// pointer form over caller-owned memory (no copy, no allocation).
extension Communicator {
    // MARK: Broadcast

    /// Broadcasts `buffer` from `root` in place. Every rank must pass the same count.
    public func broadcast<T: MPIScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws(CommError) {
        let op = "MPI_Bcast(\(name), root \(root), \(buffer.count) x \(T.scalarKind))"
        let trace = try beginTrace("MPI_Bcast", bytes: buffer.count * MemoryLayout<T>.stride, peer: root, count: buffer.count, kind: T.scalarKind)
        defer { endTrace(trace) }
        try validate(peer: root, op)
        let n = try mpiCount(buffer.count, op)
        try check(MPI_Bcast(buffer.baseAddress, n, T.scalarKind.datatype, Int32(root), handle), op)
    }

    /// Broadcasts `values` from `root`: on return every rank holds root's array, whatever
    /// it passed in (the count travels first, so other ranks may pass an empty array).
    public func broadcast<T: MPIScalar>(_ values: inout [T], root: Int) throws(CommError) {
        var count = [Int64(values.count)]
        try count.withUnsafeMutableBufferPointer { (p) throws(CommError) in try broadcast(p, root: root) }
        if rank != root { values = [T](repeating: .zero, count: Int(count[0])) }
        try values.withUnsafeMutableBufferPointer { (p) throws(CommError) in try broadcast(p, root: root) }
    }

    /// Broadcasts one value from `root`.
    public func broadcast<T: MPIScalar>(_ value: T, root: Int) throws(CommError) -> T {
        var v = [value]
        try v.withUnsafeMutableBufferPointer { (p) throws(CommError) in try broadcast(p, root: root) }
        return v[0]
    }

    // MARK: Allreduce

    /// Reduces `send` element-wise over all ranks into `receive` (same count on every rank).
    public func allreduce<T: MPIScalar>(
        _ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, op: ReduceOp
    ) throws(CommError) {
        let what = "MPI_Allreduce(\(name), \(op), \(send.count) x \(T.scalarKind))"
        let trace = try beginTrace("MPI_Allreduce", bytes: send.count * MemoryLayout<T>.stride, count: send.count, kind: T.scalarKind, reduce: op)
        defer { endTrace(trace) }
        guard send.count == receive.count else {
            throw CommError.invalidArgument(
                operation: what, message: "send count \(send.count) differs from receive count \(receive.count)")
        }
        let n = try mpiCount(send.count, what)
        try check(MPI_Allreduce(send.baseAddress, receive.baseAddress, n, T.scalarKind.datatype, op.handle, handle), what)
    }

    /// Reduces `buffer` element-wise over all ranks in place (`MPI_IN_PLACE`).
    public func allreduce<T: MPIScalar>(inPlace buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws(CommError) {
        let what = "MPI_Allreduce(\(name), \(op), in place, \(buffer.count) x \(T.scalarKind))"
        let trace = try beginTrace("MPI_Allreduce", bytes: buffer.count * MemoryLayout<T>.stride, count: buffer.count, kind: T.scalarKind, reduce: op)
        defer { endTrace(trace) }
        let n = try mpiCount(buffer.count, what)
        try check(MPI_Allreduce(cmpi_in_place(), buffer.baseAddress, n, T.scalarKind.datatype, op.handle, handle), what)
    }

    /// Reduces an array in place.
    public func allreduce<T: MPIScalar>(inPlace values: inout [T], op: ReduceOp) throws(CommError) {
        try values.withUnsafeMutableBufferPointer { (p) throws(CommError) in try allreduce(inPlace: p, op: op) }
    }

    /// Returns the element-wise reduction of `values` over all ranks.
    public func allreduce<T: MPIScalar>(_ values: [T], op: ReduceOp) throws(CommError) -> [T] {
        var result = [T](repeating: .zero, count: values.count)
        try values.withUnsafeBufferPointer { (s) throws(CommError) in
            try result.withUnsafeMutableBufferPointer { (r) throws(CommError) in try allreduce(s, into: r, op: op) }
        }
        return result
    }

    /// Returns the reduction of one value over all ranks.
    public func allreduce<T: MPIScalar>(_ value: T, op: ReduceOp) throws(CommError) -> T {
        try allreduce([value], op: op)[0]
    }

    // MARK: Allgather

    /// Returns every rank's `value`, indexed by rank.
    public func allgather<T: MPIScalar>(_ value: T) throws(CommError) -> [T] {
        let what = "MPI_Allgather(\(name), 1 x \(T.scalarKind))"
        let trace = try beginTrace("MPI_Allgather", bytes: MemoryLayout<T>.stride, count: 1, kind: T.scalarKind)
        defer { endTrace(trace) }
        var send = value
        var result = [T](repeating: .zero, count: size)
        try result.withUnsafeMutableBufferPointer { (r) throws(CommError) in
            try check(MPI_Allgather(&send, 1, T.scalarKind.datatype, r.baseAddress, 1, T.scalarKind.datatype, handle), what)
        }
        return result
    }

    /// Returns every rank's array, indexed by rank. Ranks may contribute different
    /// lengths, zero included: the counts are gathered first.
    public func allgather<T: MPIScalar>(_ values: [T]) throws(CommError) -> [[T]] {
        let what = "MPI_Allgatherv(\(name), \(values.count) x \(T.scalarKind))"
        let trace = try beginTrace("MPI_Allgatherv", bytes: values.count * MemoryLayout<T>.stride, count: -1, kind: T.scalarKind)
        defer { endTrace(trace) }
        let sendCount = try mpiCount(values.count, what)
        let counts = try allgather(sendCount)
        let (displacements, total) = try Communicator.displacements(counts, what)
        var flat = [T](repeating: .zero, count: total)
        try values.withUnsafeBufferPointer { (s) throws(CommError) in
            try flat.withUnsafeMutableBufferPointer { (r) throws(CommError) in
                try check(MPI_Allgatherv(s.baseAddress, sendCount, T.scalarKind.datatype,
                                         r.baseAddress, counts, displacements, T.scalarKind.datatype, handle), what)
            }
        }
        return Communicator.unflatten(flat, counts: counts, displacements: displacements)
    }

    // MARK: Gather

    /// Collects every rank's array on `root`, indexed by rank; other ranks get `nil`.
    /// Ranks may contribute different lengths, zero included.
    public func gather<T: MPIScalar>(_ values: [T], root: Int) throws(CommError) -> [[T]]? {
        let what = "MPI_Gatherv(\(name), root \(root), \(values.count) x \(T.scalarKind))"
        let trace = try beginTrace("MPI_Gatherv", bytes: values.count * MemoryLayout<T>.stride, peer: root, count: -1, kind: T.scalarKind)
        defer { endTrace(trace) }
        try validate(peer: root, what)
        let sendCount = try mpiCount(values.count, what)
        var counts = [Int32](repeating: 0, count: size)
        try counts.withUnsafeMutableBufferPointer { (c) throws(CommError) in
            var mine = sendCount
            try check(MPI_Gather(&mine, 1, cmpi_int32(), c.baseAddress, 1, cmpi_int32(), Int32(root), handle),
                      "MPI_Gather(\(name), counts for root \(root))")
        }
        let isRoot = rank == root
        let (displacements, total) = isRoot ? try Communicator.displacements(counts, what) : ([Int32](repeating: 0, count: size), 0)
        var flat = [T](repeating: .zero, count: total)
        try values.withUnsafeBufferPointer { (s) throws(CommError) in
            try flat.withUnsafeMutableBufferPointer { (r) throws(CommError) in
                try check(MPI_Gatherv(s.baseAddress, sendCount, T.scalarKind.datatype,
                                      r.baseAddress, counts, displacements, T.scalarKind.datatype,
                                      Int32(root), handle), what)
            }
        }
        return isRoot ? Communicator.unflatten(flat, counts: counts, displacements: displacements) : nil
    }

    // MARK: Helpers

    static func displacements(_ counts: [Int32], _ what: String) throws(CommError) -> ([Int32], Int) {
        var displacements = [Int32](repeating: 0, count: counts.count)
        var total = 0
        for (i, c) in counts.enumerated() {
            displacements[i] = try mpiCount(total, what)
            total += Int(c)
        }
        _ = try mpiCount(total, what)
        return (displacements, total)
    }

    static func unflatten<T>(_ flat: [T], counts: [Int32], displacements: [Int32]) -> [[T]] {
        zip(counts, displacements).map { c, d in Array(flat[Int(d)..<(Int(d) + Int(c))]) }
    }
}
