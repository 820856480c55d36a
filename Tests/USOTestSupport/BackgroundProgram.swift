import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A program a test keeps running beside a job (a reward service), optionally inside a fake
/// host's network namespace: started in its own process group with no descriptor of the
/// test process, its output in files, and killed with its group when the handle goes.
public final class BackgroundProgram: @unchecked Sendable {
    let child: ChildProcess
    let scratch: URL
    public var pid: pid_t { child.pid }
    private var ended: Int32?

    /// Starts `executable arguments` (inside host usoh`host` when given), one BLAS thread.
    public init(_ executable: String, _ arguments: [String], host: Int? = nil) throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("uso-bg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_NUM_THREADS"] = "1"
        let (path, args) = host.map { ("/usr/sbin/ip", ["netns", "exec", "usoh\($0)", executable] + arguments) } ?? (executable, arguments)
        child = try ChildProcess.start(path, args, environment: env, stdout: scratch.appendingPathComponent("stdout").path,
                                       stderr: scratch.appendingPathComponent("stderr").path)
    }

    deinit {
        if ended == nil { _ = stop(signal: SIGKILL) }
        try? FileManager.default.removeItem(at: scratch)
    }

    public var stdout: String { (try? String(contentsOf: scratch.appendingPathComponent("stdout"), encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOf: scratch.appendingPathComponent("stderr"), encoding: .utf8)) ?? "" }

    /// Sends `signal` to the program (not its group).
    public func signal(_ signal: Int32) { kill(child.pid, signal) }

    /// Sends `signal` and waits (at most `deadline` s, then SIGKILL of the group); returns its status.
    @discardableResult
    public func stop(signal: Int32, deadline: Double = 10) -> Int32 {
        if let ended { return ended }
        kill(child.pid, signal)
        let status = child.wait(deadline: deadline).status
        ended = status
        return status
    }

    /// Waits for the program to end by itself (at most `deadline` s); its status, or nil when
    /// it was still running and had to be killed.
    public func wait(deadline: Double) -> Int32? {
        if let ended { return ended }
        let e = child.wait(deadline: deadline)
        ended = e.status
        return e.killedAtDeadline ? nil : e.status
    }

    /// Polls for `file` to exist and hold a line (at most `seconds`); its first line.
    public static func waitForLine(in file: String, seconds: Double) -> String? {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if let text = try? String(contentsOfFile: file, encoding: .utf8), let line = text.split(separator: "\n").first {
                return String(line)
            }
            usleep(50_000)
        }
        return nil
    }
}
