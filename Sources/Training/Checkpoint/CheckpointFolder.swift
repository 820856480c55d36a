import Foundation
import TripletData

/// `RUN/checkpoints/`: one folder per saved step (`step_00000100/`), complete once its
/// `DONE` marker exists, `latest` naming the newest complete one (replaced by an atomic
/// rename), and retention of the last K plus every M-th.
///
/// A folder without `DONE` is a save that was interrupted (or is still being written by
/// this run): it is never listed, loaded or named by `latest`, and the next start of the
/// run removes it, with any temporary file an interrupted save left.
public struct CheckpointFolder: Sendable {
    public static let doneMarker = "DONE"
    public static let latestFile = "latest"

    /// RUN/checkpoints.
    public let root: String

    public init(run: String) { root = (run as NSString).appendingPathComponent("checkpoints") }

    public static func name(step: Int) -> String {
        let digits = String(step)
        return "step_" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    public func path(step: Int) -> String { (root as NSString).appendingPathComponent(Self.name(step: step)) }

    /// The step a folder name stands for, or nil.
    static func step(ofName name: String) -> Int? {
        guard name.hasPrefix("step_"), name.count == 13 else { return nil }
        return Int(name.dropFirst(5))
    }

    public func isComplete(step: Int) -> Bool {
        FileManager.default.fileExists(atPath: (path(step: step) as NSString).appendingPathComponent(Self.doneMarker))
    }

    /// Every step with a folder, complete or not, ascending.
    func allSteps() -> [Int] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Self.step(ofName:)).sorted()
    }

    /// The complete checkpoints' steps, ascending.
    public func completeSteps() -> [Int] { allSteps().filter(isComplete(step:)) }

    /// The newest complete checkpoint, or nil when none is. It is the one `latest` names,
    /// except after a crash between a DONE and the rename of `latest`, when `latest` still
    /// names the one before: DONE is what makes a checkpoint, `latest` is for readers.
    public func latest() -> Int? { completeSteps().last }

    /// Names `step` in `latest` (a temporary file renamed over it, the folder synced).
    public func setLatest(_ step: Int) throws {
        try AtomicFile.write(Data((Self.name(step: step) + "\n").utf8), to: (root as NSString).appendingPathComponent(Self.latestFile))
    }

    /// The step `latest` names, if it names one.
    public func latestFileStep() -> Int? {
        guard let text = try? String(contentsOfFile: (root as NSString).appendingPathComponent(Self.latestFile), encoding: .utf8) else { return nil }
        return Self.step(ofName: text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Points `latest` at the newest complete checkpoint when a crash between its DONE and the
    /// rename of `latest` left `latest` behind; returns the step it now names, if it changed.
    @discardableResult
    public func repairLatest() throws -> Int? {
        guard let newest = latest(), latestFileStep() != newest else { return nil }
        try setLatest(newest)
        return newest
    }

    /// Removes what interrupted saves left: folders without DONE and temporary files.
    /// Returns the names removed.
    @discardableResult
    public func removeIncomplete() -> [String] {
        var removed: [String] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
            let full = (root as NSString).appendingPathComponent(name)
            if let step = Self.step(ofName: name), !isComplete(step: step) {
                try? FileManager.default.removeItem(atPath: full)
                removed.append(name)
            } else if name.hasPrefix(".") && name.contains(".tmp-") {
                try? FileManager.default.removeItem(atPath: full)
                removed.append(name)
            }
        }
        return removed.sorted()
    }

    /// Keeps the newest `keepLast` complete checkpoints and every one whose step is a multiple
    /// of `keepEvery` (0: none kept for that reason); removes the other complete ones.
    /// Returns the steps removed.
    @discardableResult
    public func prune(keepLast: Int, keepEvery: Int) -> [Int] {
        let steps = completeSteps()
        let kept = Set(steps.suffix(keepLast))
        var removed: [Int] = []
        for s in steps where !kept.contains(s) && !(keepEvery > 0 && s % keepEvery == 0) {
            // DONE goes first, so a crash half-way through the removal leaves an incomplete
            // folder (removed at the next start), never a complete-looking partial one.
            try? FileManager.default.removeItem(atPath: (path(step: s) as NSString).appendingPathComponent(Self.doneMarker))
            try? FileManager.default.removeItem(atPath: path(step: s))
            removed.append(s)
        }
        return removed
    }
}
