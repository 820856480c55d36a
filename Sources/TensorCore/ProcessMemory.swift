import Foundation

/// This process's memory as the kernel counts it: what `uso bench step` and the last line
/// of a run's metrics.jsonl report per rank.
public enum ProcessMemory {
    /// The peak resident set size so far, in bytes (getrusage's ru_maxrss, KiB on Linux).
    public static func peakResidentBytes() -> Int {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        return Int(usage.ru_maxrss) * 1024
    }

    /// The high-water mark of this process's own resident memory since its exec, in bytes
    /// (VmHWM of /proc/self/status; 0 where there is none). Unlike getrusage's ru_maxrss, which
    /// a process inherits across fork and exec from its parent, this is the program's own.
    public static func highWaterResidentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return 0 }
        let kib = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
        return kib * 1024
    }
}
