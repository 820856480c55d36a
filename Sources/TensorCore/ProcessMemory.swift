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
}
