import Foundation
import Testing
@testable import Training
import USOTestSupport

/// metrics.jsonl: a full disk is an error naming the file (not a `try!` crash) and leaves no
/// cut-off line; a skipped step's non-finite loss is written as a readable value.
struct MetricsWriterTests {
    func metrics(step: Int, loss: Double) -> StepMetrics {
        StepMetrics(step: step, epoch: 0, loss: loss, lossByTask: ["t2i": loss], samplesByTask: ["t2i": 2], lr: 1e-4, gradNorm: 0, samples: 2,
                    samplesPerSecond: 10, time: StepTimes(), stepSeconds: 0.2, skipped: !loss.isFinite)
    }

    @Test func aFullDiskIsAnErrorNamingTheFile() throws {
        let w = try MetricsWriter(path: "/dev/full", totalSteps: 2, label: "t", append: true, style: .none)
        do {
            try w.write(metrics(step: 0, loss: 0.5))
            Issue.record("writing to /dev/full succeeded")
        } catch {
            #expect("\(error)".contains("/dev/full: cannot write the metrics of step 0 (No space left on device)"), "\(error)")
        }
    }

    @Test func nonFiniteLossesAreWrittenAsStrings() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.url.appendingPathComponent("metrics.jsonl").path
        let w = try MetricsWriter(path: path, totalSteps: 3, label: "t", append: false, style: .none)
        try w.write(metrics(step: 0, loss: 0.5))
        try w.write(metrics(step: 1, loss: .nan))
        try w.write(metrics(step: 2, loss: .infinity))
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        let m = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(m[0]["loss"] as? Double == 0.5 && m[1]["loss"] as? String == "nan" && m[2]["loss"] as? String == "inf")
        #expect(m[1]["skipped"] as? Bool == true)
    }
}
