import Foundation

/// Settles which OpenBLAS kernels this process runs, before anything uses BLAS.
///
/// OpenBLAS reads `OPENBLAS_CORETYPE` once, when the library loads, which is before any
/// Swift code of the process runs. So `settleBeforeUse()`, called first thing in `main`,
/// compares the core OpenBLAS picked by itself with the best one for this CPU's feature
/// flags (`OpenBLASCores`), and when the pick is older it sets `OPENBLAS_CORETYPE` and
/// re-executes the program (same pid, same arguments and environment, before MPI is
/// initialised). Re-execution rather than the launch scripts: it works however the
/// program is started (mpirun, srun, a plain shell, a test), each rank decides from its
/// own host's CPU (clusters mix CPU generations), and it costs one exec at start.
///
/// A user's own `OPENBLAS_CORETYPE` always wins; one OpenBLAS does not know is reported
/// (0.3.21 silently runs its Cooperlake kernels for any name it does not know, which
/// stop with SIGILL on CPUs without AVX-512 BF16).
public enum BLASCoreSelection {
    /// Who decided the kernels in use.
    public enum Source: String, Codable, Sendable {
        /// uso forced the best core for the CPU's features (OpenBLAS picked an older one).
        case uso
        /// The environment set OPENBLAS_CORETYPE before uso started.
        case user
        /// OpenBLAS's own pick stands (it is as good as the features allow).
        case openBLAS = "OpenBLAS"
    }

    /// The state of this process, for `uso doctor` and the benchmarks.
    public struct Report: Codable, Sendable, Equatable {
        /// The core OpenBLAS runs (`openblas_get_corename`).
        public var core: String
        public var source: Source
        /// What OpenBLAS picked by itself, when uso overrode it.
        public var openBLASPick: String?
        /// The best core for this CPU's features (nil below AVX or off x86-64).
        public var best: String?
        /// The user's OPENBLAS_CORETYPE, when set.
        public var requested: String?

        public init(core: String, source: Source, openBLASPick: String?, best: String?, requested: String?) {
            self.core = core
            self.source = source
            self.openBLASPick = openBLASPick
            self.best = best
            self.requested = requested
        }

        /// An OPENBLAS_CORETYPE that OpenBLAS did not take: the value, the core it runs
        /// instead, and the names it knows. Nil when there is no such problem.
        public var unknownRequestError: String? {
            guard source == .user, let requested else { return nil }
            if requested.caseInsensitiveCompare(core) == .orderedSame || OpenBLASCores.isKnown(requested) { return nil }
            let shown = requested.isEmpty ? "an empty value" : "'\(requested)'"
            return "OPENBLAS_CORETYPE is \(shown), which OpenBLAS does not know; it runs its \(core) kernels instead "
                + "(which stop with SIGILL on CPUs without their instructions). Unset it to let uso choose"
                + (best.map { " (\($0) on this CPU)" } ?? "") + ", or set one of: "
                + OpenBLASCores.knownNames.joined(separator: ", ")
        }

        /// A core older than the CPU allows, kept because the user asked for it or no better
        /// core is known: the warning to print, or nil.
        public var remainingFallback: String? {
            guard let best, let bestLevel = OpenBLASCores.level(of: best),
                  let level = OpenBLASCores.level(of: core), level < bestLevel else { return nil }
            let why = source == .user ? "OPENBLAS_CORETYPE=\(requested ?? core) asks for it" : "uso could not change it"
            return "OpenBLAS runs its \(core) kernels on a CPU that runs \(best)'s (\(why)); GEMMs run slower than they could"
        }
    }

    /// Environment variables uso sets on the re-executed process, beside OPENBLAS_CORETYPE.
    static let pickVariable = "USO_BLAS_CORE_OPENBLAS_PICK"
    static let chosenVariable = "USO_BLAS_CORE_CHOSEN"
    /// Fault injection for tests: pretend OpenBLAS picked this core by itself (as it does on
    /// CPUs it does not know), so the override and re-exec path runs on any machine.
    public static let fakePickVariable = "USO_FAKE_OPENBLAS_PICK"

    /// Sets OPENBLAS_CORETYPE and re-executes this program when OpenBLAS's own choice is
    /// older than the CPU allows; returns (without exec) when nothing needs changing, or
    /// when the exec fails (the process then goes on with OpenBLAS's choice, and the
    /// report says so). Call it first in `main`, before MPI and before any BLAS call.
    public static func settleBeforeUse() {
        let env = ProcessInfo.processInfo.environment
        if env["OPENBLAS_CORETYPE"] != nil { return }   // the user's, or ours after the exec
        let pick = env[fakePickVariable] ?? BLASRuntime.coreName
        guard let core = OpenBLASCores.override(openBLASPick: pick, cpu: .host) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(pickVariable, pick, 1)
        setenv(chosenVariable, core, 1)
        // The file itself, not /proc/self/exe: the kernel names a process after the file it
        // executes, and ps, top, pkill and a cluster's monitoring know it as "uso", not "exe".
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let path = n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "/proc/self/exe"
        execv(path, CommandLine.unsafeArgv)
        // Only reached when the exec failed: undo, so the report tells the truth.
        unsetenv("OPENBLAS_CORETYPE")
        unsetenv(chosenVariable)
    }

    /// This process's kernels and who chose them.
    public static var report: Report {
        let env = ProcessInfo.processInfo.environment
        let requested = env["OPENBLAS_CORETYPE"]
        let best = OpenBLASCores.best(for: .host)
        if let requested, let chosen = env[chosenVariable], chosen == requested {
            return Report(core: BLASRuntime.coreName, source: .uso, openBLASPick: env[pickVariable], best: best, requested: nil)
        }
        if let requested {
            return Report(core: BLASRuntime.coreName, source: .user, openBLASPick: nil, best: best, requested: requested)
        }
        return Report(core: BLASRuntime.coreName, source: .openBLAS, openBLASPick: nil, best: best, requested: nil)
    }
}
