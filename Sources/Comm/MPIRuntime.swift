internal import CMPI
import Foundation

/// The thread support MPI grants, in MPI's order (`single` < `funneled` < `serialized` < `multiple`).
public enum ThreadLevel: Int, Comparable, Sendable, CustomStringConvertible, CaseIterable {
    case single = 0, funneled, serialized, multiple

    init(mpi value: Int32) {
        switch Int(value) {
        case Int(MPI_THREAD_SINGLE): self = .single
        case Int(MPI_THREAD_FUNNELED): self = .funneled
        case Int(MPI_THREAD_SERIALIZED): self = .serialized
        default: self = .multiple
        }
    }

    var mpiValue: Int32 {
        switch self {
        case .single: return Int32(MPI_THREAD_SINGLE)
        case .funneled: return Int32(MPI_THREAD_FUNNELED)
        case .serialized: return Int32(MPI_THREAD_SERIALIZED)
        case .multiple: return Int32(MPI_THREAD_MULTIPLE)
        }
    }

    public static func < (a: ThreadLevel, b: ThreadLevel) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .single: return "MPI_THREAD_SINGLE"
        case .funneled: return "MPI_THREAD_FUNNELED"
        case .serialized: return "MPI_THREAD_SERIALIZED"
        case .multiple: return "MPI_THREAD_MULTIPLE"
        }
    }
}

/// The MPI library's life in this process: initialisation with a thread level, the
/// world communicator, versions, and finalisation.
///
/// The design needs `funneled`: every MPI call comes from the thread that initialised
/// MPI (the rank's main thread: the training loop, which tests its non-blocking requests
/// between layers to make progress); helper threads (data prefetch, BLAS) never call MPI.
/// Started without `mpirun`, Open MPI runs the process as a world of one.
public final class MPIRuntime {
    /// The thread level this program asks for.
    public static let designThreadLevel: ThreadLevel = .funneled

    /// The level asked for at initialisation.
    public let requestedThreadLevel: ThreadLevel
    /// The level MPI granted.
    public let providedThreadLevel: ThreadLevel
    /// All ranks of the job.
    public let world: Communicator

    private init(requested: ThreadLevel, provided: ThreadLevel, world: Communicator) {
        self.requestedThreadLevel = requested
        self.providedThreadLevel = provided
        self.world = world
    }

    /// Initialises MPI (once per process), asking for `required` and failing if MPI grants less.
    /// Errors on the world communicator are returned to the caller rather than fatal.
    public static func initialize(required: ThreadLevel = designThreadLevel) throws(CommError) -> MPIRuntime {
        var already: Int32 = 0
        MPI_Initialized(&already)
        var provided: Int32 = 0
        if already != 0 {
            try check(MPI_Query_thread(&provided), "MPI_Query_thread")
        } else {
            try check(MPI_Init_thread(nil, nil, required.mpiValue, &provided), "MPI_Init_thread")
        }
        let granted = ThreadLevel(mpi: provided)
        try check(MPI_Comm_set_errhandler(cmpi_comm_world(), cmpi_errors_return()),
                  "MPI_Comm_set_errhandler(world)")
        if granted < required {
            throw CommError.threadLevelTooLow(required: required, provided: granted)
        }
        let world = try Communicator(borrowing: cmpi_comm_world(), name: "world")
        return MPIRuntime(requested: required, provided: granted, world: world)
    }

    /// Whether MPI is initialised and not yet finalised in this process.
    public static var isActive: Bool {
        var initialized: Int32 = 0
        var finalized: Int32 = 0
        MPI_Initialized(&initialized)
        MPI_Finalized(&finalized)
        return initialized != 0 && finalized == 0
    }

    /// Finalises MPI. Every rank must call it after its last MPI operation; communicators
    /// still alive afterwards are simply not freed.
    public func finalize() throws(CommError) {
        guard MPIRuntime.isActive else { return }
        try check(MPI_Finalize(), "MPI_Finalize")
    }

    /// The MPI library's own version string (for Open MPI: "Open MPI v4.1.4, ...").
    public static var libraryVersion: String {
        var buffer = [CChar](repeating: 0, count: Int(cmpi_max_library_version_string()) + 1)
        var length: Int32 = 0
        guard MPI_Get_library_version(&buffer, &length) == cmpi_success() else { return "unknown" }
        let text = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.trimmingCharacters(in: .whitespacesAndNewlines.union(CharacterSet(charactersIn: "\0")))
    }

    /// The MPI standard version the library implements, e.g. (3, 1).
    public static var standardVersion: (major: Int, minor: Int) {
        var major: Int32 = 0
        var minor: Int32 = 0
        MPI_Get_version(&major, &minor)
        return (Int(major), Int(minor))
    }

    /// Seconds on MPI's wall clock (`MPI_Wtime`), for timing collectives.
    public static func wallTime() -> Double { MPI_Wtime() }

    /// The name of the host this rank runs on (`MPI_Get_processor_name`).
    public static func processorName() -> String {
        var buffer = [CChar](repeating: 0, count: Int(cmpi_max_processor_name()) + 1)
        var length: Int32 = 0
        guard MPI_Get_processor_name(&buffer, &length) == cmpi_success() else {
            return ProcessInfo.processInfo.hostName
        }
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
