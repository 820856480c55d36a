import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A program started with `posix_spawn` in a process group of its own, its output in files and
/// no other descriptor of the test process, waited for with `waitpid` under a deadline.
///
/// Not Foundation's `Process`: on Linux it learns of a child's exit when a socket every child
/// inherits closes, so a daemon the child leaves behind (munged, slurmctld) keeps
/// `waitUntilExit` waiting for the daemon's whole life. That hung a CI run for 90 minutes.
/// Here the wait is for the child itself, and a child still running at its deadline is
/// killed with its whole process group, so no test waits forever.
struct ChildProcess {
    /// How a waited-for child ended.
    struct Ending {
        /// The exit status, or 128 + the signal's number for a child ended by a signal (as a shell says it).
        let status: Int32
        /// Whether the deadline passed and the child's process group was killed.
        let killedAtDeadline: Bool
    }

    let pid: pid_t

    /// Starts `path` with `arguments` and exactly `environment`; stdin from /dev/null,
    /// stdout and stderr into the given files (created or truncated).
    static func start(_ path: String, _ arguments: [String], environment: [String: String],
                      stdout: String, stderr: String) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        // Nothing else of the test process: tests run in parallel, and a child holding another
        // test's open HDF5 file would hold its lock (h5py then fails with errno 11).
        closeFrom(3, &actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        // The child starts with no signal blocked and the default actions (the test runner's
        // dispatch threads block some).
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw ChildProcessError.spawnFailed(path, String(cString: strerror(rc))) }
        return ChildProcess(pid: pid)
    }

    /// Waits for the child to end; past `deadline` seconds from now, kills its process group
    /// (SIGKILL) and reaps it.
    func wait(deadline seconds: Double) -> Ending {
        let end = Date().addingTimeInterval(seconds)
        var status: Int32 = 0
        var delay: useconds_t = 1_000
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { return Ending(status: Self.decode(status), killedAtDeadline: false) }
            if r < 0 && errno != EINTR { return Ending(status: -1, killedAtDeadline: false) }
            if Date() >= end { break }
            usleep(delay)
            delay = min(delay * 2, 50_000)
        }
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return Ending(status: Self.decode(status), killedAtDeadline: true)
    }

    /// Adds "close every descriptor from `first` on" to `actions`: glibc's
    /// posix_spawn_file_actions_addclosefrom_np (2.34 and later; Swift's Glibc module does not
    /// show it), else a close for each descriptor open now.
    private static func closeFrom(_ first: Int32, _ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, first)
            return
        }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in open.compactMap({ Int32($0) }) where fd >= first { posix_spawn_file_actions_addclose(&actions, fd) }
    }

    /// waitpid's status as a shell reports it.
    private static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        if signal == 0 { return (status >> 8) & 0xff }  // exited
        return 128 + signal  // ended by a signal
    }
}

/// Why a test could not start a program.
enum ChildProcessError: Error, CustomStringConvertible {
    case spawnFailed(String, String)

    var description: String {
        switch self {
        case .spawnFailed(let path, let why): return "could not start \(path): \(why)"
        }
    }
}
