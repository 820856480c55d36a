internal import CBLAS
import Foundation

/// OpenBLAS as this process sees it: its build configuration, the core it tuned for, and
/// its thread count. MPI ranks are the parallelism, so each rank runs one BLAS thread by
/// default (`OPENBLAS_NUM_THREADS=1`, set by the launch wrappers).
public enum BLASRuntime {
    /// OpenBLAS's configuration string, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64".
    public static var configuration: String {
        guard let c = openblas_get_config() else { return "unknown" }
        return String(cString: c).trimmingCharacters(in: .whitespaces)
    }

    /// The CPU core type OpenBLAS chose its kernels for (e.g. "Zen", "SkylakeX").
    public static var coreName: String {
        guard let c = openblas_get_corename() else { return "unknown" }
        return String(cString: c)
    }

    /// The number of threads OpenBLAS uses for one call.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// Sets the number of threads OpenBLAS uses for one call.
    public static func setThreadCount(_ n: Int) {
        precondition(n >= 1, "OpenBLAS needs at least one thread (got \(n))")
        openblas_set_num_threads(Int32(n))
    }
}
