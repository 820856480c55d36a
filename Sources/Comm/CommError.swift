internal import CMPI
import Foundation

/// Everything that can go wrong in the communication layer, as a Swift error.
///
/// MPI runs with `MPI_ERRORS_RETURN` on every communicator this module creates, so a
/// failing call comes back here with MPI's own error string instead of aborting the job.
public enum CommError: Error, CustomStringConvertible, Sendable {
    /// An MPI call returned an error code.
    case mpi(operation: String, code: Int32, errorClass: Int32, message: String)
    /// A non-blocking operation did not complete before its deadline.
    case deadlineExceeded(operation: String, peer: Int?, seconds: Double)
    /// MPI granted a lower thread level than this program needs.
    case threadLevelTooLow(required: ThreadLevel, provided: ThreadLevel)
    /// An argument no MPI call could accept (a count beyond Int32, a rank out of range, ...).
    case invalidArgument(operation: String, message: String)
    /// MPI was used before `MPIRuntime.initialize` or after `finalize`.
    case notInitialized(operation: String)
    /// The ranks of a communicator called different collectives at the same point
    /// (`diag.check_collectives`): every group of ranks with its fingerprint.
    case collectiveMismatch(communicator: String, groups: [(ranks: [Int], fingerprint: String)])

    public var description: String {
        switch self {
        case let .mpi(operation, code, errorClass, message):
            return "\(operation) failed: \(message) (MPI error code \(code), class \(errorClass))"
        case let .deadlineExceeded(operation, peer, seconds):
            let who = peer.map { " with rank \($0)" } ?? ""
            return "\(operation)\(who) did not complete within its deadline of \(formatSeconds(seconds))"
        case let .threadLevelTooLow(required, provided):
            return "MPI provides thread level \(provided) but this program needs \(required); "
                + "use an Open MPI built with thread support"
        case let .invalidArgument(operation, message):
            return "\(operation): \(message)"
        case let .notInitialized(operation):
            return "\(operation): MPI is not initialised (or already finalised)"
        case let .collectiveMismatch(communicator, groups):
            return "collective mismatch on \(communicator) (diag.check_collectives): "
                + groups.map { "rank(s) \($0.ranks) called \($0.fingerprint)" }.joined(separator: "; ")
                + "; nothing was reduced"
        }
    }
}

func formatSeconds(_ s: Double) -> String {
    if s < 1e-3 { return String(format: "%.0f us", s * 1e6) }
    if s < 1 { return String(format: "%.0f ms", s * 1e3) }
    return String(format: "%.2f s", s)
}

/// MPI's text for an error code.
func mpiErrorString(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
    var length: Int32 = 0
    guard MPI_Error_string(code, &buffer, &length) == cmpi_success() else {
        return "unknown MPI error"
    }
    return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Turns an MPI return code into a thrown `CommError.mpi`, naming the operation.
@inline(__always)
func check(_ code: Int32, _ operation: @autoclosure () -> String) throws(CommError) {
    if code == cmpi_success() { return }
    var errorClass: Int32 = 0
    _ = MPI_Error_class(code, &errorClass)
    throw CommError.mpi(operation: operation(), code: code, errorClass: errorClass,
                        message: mpiErrorString(code))
}

/// Converts a Swift element count to MPI's `int` count, or throws naming the operation.
@inline(__always)
func mpiCount(_ count: Int, _ operation: @autoclosure () -> String) throws(CommError) -> Int32 {
    guard count >= 0, count <= Int(Int32.max) else {
        throw CommError.invalidArgument(
            operation: operation(),
            message: "count \(count) is outside MPI's range 0...\(Int32.max); split the buffer")
    }
    return Int32(count)
}
