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

extension BLASRuntime {
    /// The largest m * n * k that OpenBLAS runs through its small-matrix kernels (no packing of A
    /// and B) on this core, or 0 where it has none. OpenBLAS 0.3.21 has them for its AVX-512 cores
    /// (SkylakeX, Cooperlake, SapphireRapids: `sgemm_small_kernel_permit_skylakex.c` admits
    /// m * n * k <= 100^3, with narrower rules for transposed A). Measured on Zen 4 (Cooperlake
    /// kernels), attention's P V at 200 tokens and head width 32: 82 GFLOP/s whole, 92-100 in
    /// four row blocks of 50; with Haswell kernels, which have none, the same split cost 92 -> 82.
    public static let smallMatrixLimit: Int = {
        switch coreName.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return 1_000_000
        default: return 0
        }
    }()
}
