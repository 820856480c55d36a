internal import CMPI

/// A message received with its envelope.
public struct Message<T: MPIScalar> {
    public let values: [T]
    public let source: Int
    public let tag: Int
}

/// Point-to-point messages, blocking and non-blocking. Byte messages are `[UInt8]`.
extension Communicator {
    /// The largest tag MPI guarantees on every implementation (MPI_TAG_UB is at least this).
    public static let maxPortableTag = 32767

    private func validate(tag: Int, _ what: @autoclosure () -> String) throws(CommError) {
        guard tag >= 0 && tag <= Communicator.maxPortableTag else {
            throw CommError.invalidArgument(operation: what(),
                                            message: "tag \(tag) must be in 0...\(Communicator.maxPortableTag)")
        }
    }

    // MARK: Blocking

    /// Sends `values` to `destination` with `tag`; returns when the buffer may be reused.
    public func send<T: MPIScalar>(_ values: [T], to destination: Int, tag: Int) throws(CommError) {
        let what = "MPI_Send(\(name), to \(destination), tag \(tag), \(values.count) x \(T.scalarKind))"
        try validate(tag: tag, what)
        let n = try mpiCount(values.count, what)
        try values.withUnsafeBufferPointer { (p) throws(CommError) in
            try check(MPI_Send(p.baseAddress, n, T.scalarKind.datatype, Int32(destination), Int32(tag), handle), what)
        }
    }

    /// Receives one message of any length from `source` with `tag` (either may be `.any`).
    public func receive<T: MPIScalar>(_ type: T.Type = T.self, from source: Source, tag: Tag) throws(CommError) -> Message<T> {
        let where_ = "\(name), from \(describe(source)), tag \(describe(tag))"
        try validate(source: source, "MPI_Probe(\(where_))")
        var status = MPI_Status()
        try check(MPI_Probe(source.mpiValue, tag.mpiValue, handle, &status), "MPI_Probe(\(where_))")
        var count: Int32 = 0
        try check(MPI_Get_count(&status, T.scalarKind.datatype, &count), "MPI_Get_count(\(where_))")
        let actualSource = cmpi_status_source(&status)
        let actualTag = cmpi_status_tag(&status)
        guard count >= 0 else {
            throw CommError.invalidArgument(
                operation: "receive(\(where_))",
                message: "the message from rank \(actualSource) is not a whole number of \(T.scalarKind) elements")
        }
        var values = [T](repeating: .zero, count: Int(count))
        let what = "MPI_Recv(\(name), from \(actualSource), tag \(actualTag), \(count) x \(T.scalarKind))"
        try values.withUnsafeMutableBufferPointer { (p) throws(CommError) in
            try check(MPI_Recv(p.baseAddress, count, T.scalarKind.datatype, actualSource, actualTag, handle,
                               cmpi_status_ignore()), what)
        }
        return Message(values: values, source: Int(actualSource), tag: Int(actualTag))
    }

    /// Receives into `buffer` (whose capacity bounds the message) and returns the status.
    /// A longer message is an MPI truncation error.
    public func receive<T: MPIScalar>(into buffer: UnsafeMutableBufferPointer<T>, from source: Source, tag: Tag) throws(CommError) -> Status {
        let what = "MPI_Recv(\(name), from \(describe(source)), tag \(describe(tag)), up to \(buffer.count) x \(T.scalarKind))"
        try validate(source: source, what)
        let n = try mpiCount(buffer.count, what)
        var status = MPI_Status()
        try check(MPI_Recv(buffer.baseAddress, n, T.scalarKind.datatype, source.mpiValue, tag.mpiValue, handle, &status), what)
        var count: Int32 = 0
        MPI_Get_count(&status, T.scalarKind.datatype, &count)
        return Status(source: Int(cmpi_status_source(&status)), tag: Int(cmpi_status_tag(&status)),
                      count: Int(count), cancelled: false)
    }

    /// Whether a message from `source` with `tag` is waiting, without receiving it: its
    /// envelope and its size in `T` elements, or nil. Drives MPI's progress too.
    public func probe<T: MPIScalar>(_ type: T.Type = T.self, from source: Source, tag: Tag) throws(CommError) -> Status? {
        let where_ = "MPI_Iprobe(\(name), from \(describe(source)), tag \(describe(tag)))"
        try validate(source: source, where_)
        var flag: Int32 = 0
        var status = MPI_Status()
        try check(MPI_Iprobe(source.mpiValue, tag.mpiValue, handle, &flag, &status), where_)
        guard flag != 0 else { return nil }
        var count: Int32 = 0
        MPI_Get_count(&status, T.scalarKind.datatype, &count)
        return Status(source: Int(cmpi_status_source(&status)), tag: Int(cmpi_status_tag(&status)), count: Int(count), cancelled: false)
    }

    // MARK: Non-blocking

    /// Starts sending `buffer[range]` (all of it by default) to `destination`.
    /// The buffer must not be written until the request completes.
    public func isend<T: MPIScalar>(_ buffer: SharedBuffer<T>, range: Range<Int>? = nil,
                                    to destination: Int, tag: Int) throws(CommError) -> Request {
        let r = range ?? 0..<buffer.count
        let what = "MPI_Isend(\(name), to \(destination), tag \(tag), \(r.count) x \(T.scalarKind))"
        try checkRange(r, in: buffer.count, what)
        try validate(tag: tag, what)
        let n = try mpiCount(r.count, what)
        var request: MPI_Request? = cmpi_request_null()
        try check(MPI_Isend(buffer.base + r.lowerBound, n, T.scalarKind.datatype, Int32(destination), Int32(tag),
                            handle, &request), what)
        return Request(handle: request, operation: what, peer: destination, isReceive: false,
                       scalarKind: T.scalarKind, keepAlive: buffer)
    }

    /// Starts sending a copy of `values` (the copy lives in the request).
    public func isend<T: MPIScalar>(_ values: [T], to destination: Int, tag: Int) throws(CommError) -> Request {
        try isend(SharedBuffer(values), to: destination, tag: tag)
    }

    /// Starts receiving into `buffer[range]` (all of it by default); the range's length
    /// bounds the message. The status gives the actual source, tag and count.
    public func irecv<T: MPIScalar>(into buffer: SharedBuffer<T>, range: Range<Int>? = nil,
                                    from source: Source, tag: Tag) throws(CommError) -> Request {
        let r = range ?? 0..<buffer.count
        let what = "MPI_Irecv(\(name), from \(describe(source)), tag \(describe(tag)), up to \(r.count) x \(T.scalarKind))"
        try checkRange(r, in: buffer.count, what)
        try validate(source: source, what)
        let n = try mpiCount(r.count, what)
        var request: MPI_Request? = cmpi_request_null()
        try check(MPI_Irecv(buffer.base + r.lowerBound, n, T.scalarKind.datatype, source.mpiValue, tag.mpiValue,
                            handle, &request), what)
        return Request(handle: request, operation: what, peer: source.peer, isReceive: true,
                       scalarKind: T.scalarKind, keepAlive: buffer)
    }

    /// Starts an in-place allreduce of `buffer[range]` (all of it by default). Every rank
    /// must start its non-blocking collectives on this communicator in the same order.
    public func iallreduce<T: MPIScalar>(inPlace buffer: SharedBuffer<T>, range: Range<Int>? = nil,
                                         op: ReduceOp) throws(CommError) -> Request {
        let r = range ?? 0..<buffer.count
        let what = "MPI_Iallreduce(\(name), \(op), in place, \(r.count) x \(T.scalarKind))"
        try checkRange(r, in: buffer.count, what)
        return try iallreduce(unsafeInPlace: UnsafeMutableBufferPointer(start: buffer.base + r.lowerBound, count: r.count),
                              op: op, keepingAlive: buffer, what: what)
    }

    /// Starts an in-place allreduce over caller-owned memory. `owner` is kept alive until
    /// the request completes; the caller guarantees the memory belongs to it.
    public func iallreduce<T: MPIScalar>(unsafeInPlace buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp,
                                         keepingAlive owner: AnyObject?) throws(CommError) -> Request {
        try iallreduce(unsafeInPlace: buffer, op: op, keepingAlive: owner,
                       what: "MPI_Iallreduce(\(name), \(op), in place, \(buffer.count) x \(T.scalarKind))")
    }

    private func iallreduce<T: MPIScalar>(unsafeInPlace buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp,
                                          keepingAlive owner: AnyObject?, what: String) throws(CommError) -> Request {
        let n = try mpiCount(buffer.count, what)
        var request: MPI_Request? = cmpi_request_null()
        let trace = try beginTrace("MPI_Iallreduce", bytes: buffer.count * MemoryLayout<T>.stride, count: buffer.count, kind: T.scalarKind,
                               reduce: op, blocking: false)
        try check(MPI_Iallreduce(cmpi_in_place(), buffer.baseAddress, n, T.scalarKind.datatype, op.handle,
                                 handle, &request), what)
        let r = Request(handle: request, operation: what, peer: nil, isReceive: false,
                        scalarKind: T.scalarKind, keepAlive: owner)
        r.trace = trace
        return r
    }

    /// Starts a barrier; it completes once every rank has started it.
    public func ibarrier() throws(CommError) -> Request {
        let what = "MPI_Ibarrier(\(name))"
        var request: MPI_Request? = cmpi_request_null()
        let trace = try beginTrace("MPI_Ibarrier", bytes: 0, blocking: false)
        try check(MPI_Ibarrier(handle, &request), what)
        let r = Request(handle: request, operation: what, peer: nil, isReceive: false, scalarKind: nil, keepAlive: nil)
        r.trace = trace
        return r
    }

    // MARK: Helpers

    private func checkRange(_ r: Range<Int>, in count: Int, _ what: @autoclosure () -> String) throws(CommError) {
        guard r.lowerBound >= 0 && r.upperBound <= count else {
            throw CommError.invalidArgument(operation: what(), message: "range \(r) is outside the buffer of \(count) elements")
        }
    }

    func describe(_ source: Source) -> String {
        switch source {
        case .any: return "any rank"
        case .rank(let r): return "\(r)"
        }
    }

    func describe(_ tag: Tag) -> String {
        switch tag {
        case .any: return "any"
        case .value(let t): return "\(t)"
        }
    }
}
