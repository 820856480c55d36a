import Foundation

/// Starts MPI jobs from tests, one at a time, each with a timeout.
///
/// Two mpirun jobs at once on a 2-core machine make small collectives 1000x slower, so
/// every job takes a process-wide lock and a file lock (/tmp/uso-mpirun.lock) that also
/// keeps separate test processes apart. Output goes to temporary files rather than pipes,
/// so a chatty job can never deadlock the test.
public enum MPIRun {
    /// What a job did.
    public struct Outcome: Sendable {
        public let exitCode: Int32
        public let stdout: String
        public let stderr: String
        public let seconds: Double
        /// The command line, for failure messages.
        public let command: String

        /// stdout and stderr together, labelled, for failure messages.
        public var transcript: String {
            "$ \(command)\n(exit \(exitCode) after \(String(format: "%.1f", seconds)) s)\n--- stdout\n\(stdout)--- stderr\n\(stderr)"
        }
    }

    /// mpirun's exit code when `--timeout` fired.
    public static let timeoutExitCode: Int32 = 110

    private static let lock = NSLock()

    /// The folder holding this build's executables (the test binary's own folder),
    /// or `USO_PRODUCTS_DIR` when set.
    public static var productsDirectory: URL {
        if let dir = ProcessInfo.processInfo.environment["USO_PRODUCTS_DIR"] {
            return URL(fileURLWithPath: dir)
        }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // On macOS the test binary sits inside a bundle: .../debug/X.xctest/Contents/MacOS/X.
        while dir.pathComponents.count > 1 && dir.path.contains(".xctest") {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }

    /// The path of a built executable of this package.
    public static func executable(_ name: String) -> String {
        productsDirectory.appendingPathComponent(name).path
    }

    /// Runs `executable arguments` on `np` ranks under mpirun with `--timeout`, one BLAS
    /// thread per rank, `--oversubscribe` (more ranks than cores is normal in tests), and
    /// root permission set. Waits for any other job of this process or another to end first.
    /// `mpirunArguments` go to mpirun itself (hosts, MCA settings); `unsetting` names
    /// variables of this process's environment the job must not inherit.
    public static func run(np: Int, _ executable: String, _ arguments: [String] = [],
                           timeout: Int = 120, environment: [String: String] = [:],
                           unsetting: [String] = [], mpirunArguments: [String] = [],
                           whileRunning: (@Sendable () -> Void)? = nil) throws -> Outcome {
        var args = ["-np", String(np), "--oversubscribe", "--timeout", String(timeout),
                    "-x", "OPENBLAS_NUM_THREADS"] + mpirunArguments
        for key in environment.keys.sorted() { args += ["-x", key] }
        args += [executable] + arguments
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["OPENBLAS_NUM_THREADS"] = "1"
        for key in unsetting { env[key] = nil }
        env.merge(environment) { _, new in new }
        // mpirun's own --timeout ends the job first; the harness's deadline is for an mpirun that hangs.
        return try runExclusive(launcher: "mpirun", args, environment: env, deadline: Double(timeout + 60), whileRunning: whileRunning)
    }

    /// Runs a program directly (a world of one, no mpirun), under the same lock.
    public static func runWithoutMPI(_ executable: String, _ arguments: [String] = [],
                                     environment: [String: String] = [:], unsetting: [String] = [],
                                     deadline: Double = 900) throws -> Outcome {
        var env = ProcessInfo.processInfo.environment
        for key in unsetting { env[key] = nil }
        env.merge(environment) { _, new in new }
        return try runExclusive(launcher: executable, arguments, environment: env, deadline: deadline)
    }

    /// `whileRunning` runs on a thread of its own once the job has started (to act on it:
    /// stop a rank, cut a file); the outcome waits for the job and for it.
    /// A job still running `deadline` seconds after it started is killed with its process group.
    private static func runExclusive(launcher: String, _ arguments: [String], environment: [String: String],
                                     deadline: Double, whileRunning: (@Sendable () -> Void)? = nil) throws -> Outcome {
        lock.lock()
        defer { lock.unlock() }
        let lockFD = open("/tmp/uso-mpirun.lock", O_CREAT | O_RDWR, 0o666)
        if lockFD >= 0 { flock(lockFD, LOCK_EX) }
        defer {
            if lockFD >= 0 {
                flock(lockFD, LOCK_UN)
                close(lockFD)
            }
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("uso-mpirun-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outURL = scratch.appendingPathComponent("stdout")
        let errURL = scratch.appendingPathComponent("stderr")
        let path = launcher.contains("/") ? launcher : try which(launcher)
        let start = Date()
        let child = try ChildProcess.start(path, arguments, environment: environment, stdout: outURL.path, stderr: errURL.path)
        let done = DispatchSemaphore(value: 0)
        if let whileRunning {
            Thread { whileRunning(); done.signal() }.start()
        }
        let ending = child.wait(deadline: deadline)
        if whileRunning != nil { done.wait() }
        var stderr = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        if ending.killedAtDeadline {
            stderr += "\nMPIRun: still running after the test's deadline of \(Int(deadline)) s: killed with its process group\n"
        }
        return Outcome(exitCode: ending.status,
                       stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
                       stderr: stderr,
                       seconds: Date().timeIntervalSince(start),
                       command: ([launcher] + arguments).joined(separator: " "))
    }

    /// The full path of a program on PATH.
    public static func which(_ program: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw MPIRunError.notFound(program)
    }
}

/// Why a test could not start a job.
public enum MPIRunError: Error, CustomStringConvertible {
    case notFound(String)

    public var description: String {
        switch self {
        case .notFound(let p): return "\(p) is not on PATH; run Scripts/bootstrap.sh to install Open MPI"
        }
    }
}
