import Foundation

/// Runs Python 3 snippets from tests, as the outside tool that reads and writes this
/// project's files (the `safetensors` package, h5py, the reference implementation).
/// Scripts/bootstrap.sh installs the packages they need.
public enum Python {
    public struct Outcome: Sendable {
        public let exitCode: Int32
        public let stdout: String
        public let stderr: String
        public var transcript: String { "(exit \(exitCode))\n--- stdout\n\(stdout)--- stderr\n\(stderr)" }
    }

    /// Runs `python3 -c script args...`.
    public static func run(_ script: String, _ arguments: [String] = []) throws -> Outcome {
        let dir = try TemporaryDirectory(prefix: "uso-python")
        defer { dir.remove() }
        let out = dir.url.appendingPathComponent("out"), err = dir.url.appendingPathComponent("err")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try MPIRun.which("python3"))
        p.arguments = ["-c", script] + arguments
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        p.waitUntilExit()
        return Outcome(exitCode: p.terminationStatus,
                       stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                       stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }
}
