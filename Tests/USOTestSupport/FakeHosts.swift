import Foundation

/// Several "hosts" on this machine (Cluster/fake-hosts.sh: network namespaces with real
/// TCP between them), so that multi-host launches and host-aware layouts can be tested.
public enum FakeHosts {
    /// The repository root (two levels above this file's folder).
    public static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static var script: String { repositoryRoot.appendingPathComponent("Cluster/fake-hosts.sh").path }

    /// Whether this machine lets us make network namespaces (root and iproute2).
    public static let available: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ||
                FileManager.default.isExecutableFile(atPath: "/sbin/ip") else { return false }
        let add = shell("ip netns add usoprobe")
        _ = shell("ip netns del usoprobe")
        return add == 0
    }()

    /// Makes `count` hosts usoh1...usohN and returns the mpirun options that place `slots`
    /// ranks on each, host by host.
    public static func up(_ count: Int, slots: Int) throws -> [String] {
        guard shell("'\(script)' up \(count)") == 0 else { throw FakeHostsError.setupFailed }
        let pipe = Pipe()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: script)
        p.arguments = ["mpirun-args", String(count), String(slots)]
        p.standardOutput = pipe
        try p.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
    }

    /// Sends `signal` ("STOP", "CONT", "KILL") to the processes of host usoh`k` named
    /// `program` (its ranks: "uso"), or to all of them (its Open MPI daemon too) when nil.
    @discardableResult
    public static func signalHost(_ k: Int, _ signal: String, program: String? = "uso") -> Int32 {
        let filter = program.map { " | while read p; do [ \"$(cat /proc/$p/comm 2>/dev/null)\" = '\($0)' ] && echo $p; done" } ?? ""
        return shell("ip netns pids usoh\(k)\(filter) | xargs -r kill -\(signal)")
    }

    /// Cuts (`up` false) or restores host usoh`k`'s link to the bridge.
    @discardableResult
    public static func link(_ k: Int, up: Bool) -> Int32 { shell("'\(script)' link \(k) \(up ? "up" : "down")") }

    /// Removes the hosts.
    public static func down() {
        _ = shell("'\(script)' down")
    }

    @discardableResult
    static func shell(_ command: String) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command + " >/dev/null 2>&1"]
        do { try p.run() } catch { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }
}

public enum FakeHostsError: Error, CustomStringConvertible {
    case setupFailed
    public var description: String { "Cluster/fake-hosts.sh up failed (needs root and iproute2)" }
}
