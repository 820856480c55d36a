import Foundation
import TripletData

/// One step's line in metrics.jsonl.
public struct StepMetrics: Codable, Sendable {
    public var step: Int
    public var epoch: Int
    public var loss: Double
    public var lossByTask: [String: Double]
    public var samplesByTask: [String: Int]
    public var lr: Double
    public var gradNorm: Double
    public var samples: Int
    public var samplesPerSecond: Double
    /// The slowest trainer's time in each part of the step.
    public var time: StepTimes
    public var stepSeconds: Double
    public var skipped: Bool
    /// Mean style reward over the samples that got one, their count, and the replies that missed their deadline.
    public var reward: Double?
    public var rewardSamples: Int = 0
    public var rewardMisses: Int = 0
    /// Each trainer's peak resident memory in bytes, in trainer order: on the run's last step only.
    public var peakResidentBytes: [Int]?
    /// Each trainer's AdamW state (both moments) in bytes, in trainer order: on the run's last
    /// step only (under ZeRO-1 about 1 / trainers of the whole).
    public var optimizerStateBytes: [Int]?
    /// On a skipped step: the first trainable tensor whose gradient held a NaN or infinity.
    public var nonFiniteGradient: String?
    /// On a skipped step: where each trainer found a non-finite value before the sum.
    public var nonFinite: [String]?

    enum CodingKeys: String, CodingKey {
        case step, epoch, loss, lr, samples, time, skipped
        case lossByTask = "loss_by_task"
        case samplesByTask = "samples_by_task"
        case gradNorm = "grad_norm"
        case samplesPerSecond = "samples_per_second"
        case stepSeconds = "step_seconds"
        case reward
        case rewardSamples = "reward_samples"
        case rewardMisses = "reward_misses"
        case peakResidentBytes = "peak_resident_bytes"
        case optimizerStateBytes = "optimizer_state_bytes"
        case nonFiniteGradient = "non_finite_gradient"
        case nonFinite = "non_finite"
    }
}

extension StepTimes {
    enum CodingKeys: String, CodingKey {
        case forward, backward, optimizer
        case dataWait = "data_wait"
        case syncWait = "sync_wait"
        case rewardWait = "reward_wait"
    }
}

/// The coordinator's metrics file (one JSON object per line, appended and flushed per
/// line) and its one-line progress display with an ETA.
public final class MetricsWriter {
    let handle: FileHandle
    let path: String
    /// Where the file's last complete line ends.
    var end: UInt64 = 0
    let totalSteps: Int
    let label: String
    let interactive: Bool
    let started = Date()
    var firstStep: Int?
    var lastPrinted = 0

    /// `bar`: one line redrawn in place (a terminal); `lines`: a line every 5% of the run
    /// (logs, and mpirun, which hands every rank a terminal even when its own output is a pipe).
    public enum ProgressStyle: String, Sendable, CaseIterable { case auto, bar, lines, none }

    /// `continuingAt`: a resumed run drops the lines of that step and later ones first (a
    /// crash after the last checkpoint leaves lines the resumed run writes again), so every
    /// step appears once.
    public init(path: String, totalSteps: Int, label: String, append: Bool, continuingAt: Int? = nil, style: ProgressStyle = .auto) throws {
        if append, let continuingAt, let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let kept = text.split(separator: "\n").filter { line in
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let step = object["step"] as? Int else { return false }
                return step < continuingAt
            }
            do { try AtomicFile.write(Data(kept.map { $0 + "\n" }.joined().utf8), to: path) } catch {
                throw TrainingError("\(path): cannot drop the lines after step \(continuingAt): \(error)")
            }
        }
        if !append || !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)   // failure surfaces as the open below
        }
        guard let h = FileHandle(forWritingAtPath: path) else {
            throw TrainingError("\(path): cannot open for writing (\(String(cString: strerror(errno))))")
        }
        do { end = try h.seekToEnd() } catch {
            throw TrainingError("\(path): cannot open for appending: \(error.localizedDescription)")
        }
        handle = h
        self.path = path
        self.totalSteps = totalSteps
        self.label = label
        switch style {
        case .bar: interactive = true; silent = false
        case .lines: interactive = false; silent = false
        case .none: interactive = false; silent = true
        case .auto:
            interactive = isatty(1) != 0 && ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] == nil
            silent = false
        }
    }

    let silent: Bool

    /// Appends one line. A non-finite number (a skipped step's loss) is written as the string
    /// "nan", "inf" or "-inf". A failed write (a full disk) throws naming the file and leaves
    /// the file as it was before the line: never a cut-off line.
    public func write(_ m: StepMetrics) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var line: Data
        do { line = try encoder.encode(m) } catch {
            throw TrainingError("\(path): cannot encode the metrics of step \(m.step): \(error)")
        }
        line.append(0x0A)
        do {
            try handle.write(contentsOf: line)
        } catch {
            let reason = String(cString: strerror(errno))
            // Cut back whatever part of the line reached the file.
            try? handle.truncate(atOffset: end)
            throw TrainingError("\(path): cannot write the metrics of step \(m.step) (\(reason)); the file ends at its last complete line")
        }
        end += UInt64(line.count)
    }

    /// "[uso] step 120/1000  loss 0.4123  lr 1.0e-04  |g| 0.83  12.3 samples/s  ETA 4m10s".
    public func progress(_ m: StepMetrics) {
        if silent { return }
        if firstStep == nil { firstStep = m.step }
        let done = m.step + 1 - (firstStep ?? 0)
        let elapsed = Date().timeIntervalSince(started)
        let remaining = Double(totalSteps - m.step - 1) * elapsed / Double(max(done, 1))
        let text = String(format: "[%@] step %d/%d  loss %.4f  lr %.1e  |g| %.3f  %.1f samples/s  ETA %@%@", label, m.step + 1, totalSteps,
                          m.loss, m.lr, m.gradNorm, m.samplesPerSecond, Self.duration(remaining), m.skipped ? "  (step skipped: non-finite)" : "")
        if interactive {
            print("\r" + text + "   ", terminator: m.step + 1 == totalSteps ? "\n" : "")
        } else if m.step + 1 == totalSteps || m.step == firstStep || m.step - lastPrinted >= max(1, totalSteps / 20) {
            print(text)
            lastPrinted = m.step
        }
        fflush(nil)
    }

    /// A line of news between the progress lines ("checkpoint step_00000100 complete ...").
    public func note(_ text: String) {
        if silent { return }
        print((interactive ? "\r" : "") + "[\(label)] " + text)
        fflush(nil)
    }

    static func duration(_ s: Double) -> String {
        guard s.isFinite else { return "?" }
        let t = Int(s.rounded())
        if t >= 3600 { return "\(t / 3600)h\(String(format: "%02d", t % 3600 / 60))m" }
        if t >= 60 { return "\(t / 60)m\(String(format: "%02d", t % 60))s" }
        return "\(t)s"
    }
}
