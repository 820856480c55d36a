import Comm
import Foundation
import TensorCore
import TripletData
import USOModel

/// Where a trainer found a NaN or infinity of its own, before the gradients are summed:
/// the step, the micro-batch, its samples, the first tensor whose gradient is not finite, and
/// whether the loss (the forward) or the backward produced it.
public struct NonFiniteReport: Codable, Sendable, Equatable, CustomStringConvertible {
    public enum Source: String, Codable, Sendable { case loss, backward }
    public var trainer: Int
    public var step: Int
    public var microBatch: Int
    /// The samples with a non-finite loss (source loss), or every sample of the micro-batch (backward).
    public var samples: [Int64]
    /// The first trainable tensor whose gradient is not finite ("" when every gradient is).
    public var tensor: String
    public var source: Source

    public var description: String {
        "trainer \(trainer), step \(step), micro-batch \(microBatch), sample(s) \(samples): "
            + (source == .loss ? "the loss is not finite" : "the loss is finite, the backward made a gradient non-finite")
            + (tensor.isEmpty ? "" : " (first non-finite gradient in \(tensor))")
    }
}

/// A trainer's non-finite guard for one step: after each micro-batch, its losses (a NaN or
/// infinite loss names its samples) and, before the last one, the accumulated gradients; the
/// last micro-batch's gradients are checked bucket by bucket as they go to the allreduce
/// (`GradientSync.localNonFinite`). The trainers then agree (one number in the step's
/// allreduce) and gather the reports only when one of them found something.
final class NonFiniteGuard {
    let trainer: Int
    let store: ParameterStore
    let offsets: [Int]
    private(set) var report: NonFiniteReport?
    /// Steps skipped in a row so far.
    private(set) var skippedInARow = 0

    init(trainer: Int, store: ParameterStore) {
        self.trainer = trainer
        self.store = store
        var o: [Int] = [], at = 0
        for p in store.trainable { o.append(at); at += p.count }
        offsets = o
    }

    func beginStep() { report = nil }

    /// The trainable tensor holding flat gradient element `i`.
    func tensor(at i: Int) -> String {
        offsets.lastIndex { $0 <= i }.map { store.trainable[$0].name } ?? ""
    }

    /// The first non-finite element of the accumulated gradients, if any.
    func firstNonFinite() -> Int? {
        let g = store.gradients
        return withExtendedLifetime(g) {
            ElementwiseKernels.allFinite(g.count, g.base) ? nil : (0..<g.count).first { !g.base[$0].isFinite }
        }
    }

    /// After micro-batch `k` (its samples' losses; `last`: its gradients are checked at the
    /// buckets instead, before they are summed).
    func check(microBatch k: Int, step: Int, losses: [SampleLoss], samples: ArraySlice<LoadedSample>, last: Bool) {
        guard report == nil else { return }
        let bad = losses.filter { !$0.loss.isFinite }
        if !bad.isEmpty {
            report = NonFiniteReport(trainer: trainer, step: step, microBatch: k, samples: bad.map(\.sampleID),
                                     tensor: firstNonFinite().map(tensor(at:)) ?? "", source: .loss)
        } else if !last, let i = firstNonFinite() {
            report = NonFiniteReport(trainer: trainer, step: step, microBatch: k, samples: samples.map(\.sampleID), tensor: tensor(at: i), source: .backward)
        }
    }

    /// After the sync: the last micro-batch's buckets, checked before their allreduce.
    func checkSynced(_ sync: GradientSync, microBatch k: Int, step: Int, samples: ArraySlice<LoadedSample>) {
        guard report == nil, let i = sync.localNonFinite else { return }
        report = NonFiniteReport(trainer: trainer, step: step, microBatch: k, samples: samples.map(\.sampleID), tensor: tensor(at: i), source: .backward)
    }

    /// Every trainer's report, gathered (collective; only when `found` > 0 trainers found one).
    func gather(_ communicator: Communicator) throws -> [NonFiniteReport] {
        let mine = try report.map { try JSONEncoder().encode($0) }.map { [UInt8]($0) } ?? []
        return try communicator.allgather(mine).compactMap { $0.isEmpty ? nil : try? JSONDecoder().decode(NonFiniteReport.self, from: Data($0)) }
    }

    /// Counts a skipped or a taken step; throws once `limit` steps in a row were skipped.
    func count(skipped: Bool, step: Int, limit: Int, reports: [NonFiniteReport]) throws {
        skippedInARow = skipped ? skippedInARow + 1 : 0
        guard skippedInARow >= limit else { return }
        throw TrainingError("\(skippedInARow) steps in a row skipped for non-finite values (diag.max_skipped_in_a_row = \(limit)), the last at step \(step)"
                            + (reports.isEmpty ? ": the sum was not finite though every trainer's own gradients were" : ": " + reports.map(\.description).joined(separator: "; "))
                            + "; the run stops with its weights as of the last taken step (lower optim.lr, check the data named)")
    }
}
