import Comm
import FlightRecorder
import Foundation
import TensorCore
import TripletData
import USOModel

/// Stage `csd`: the CSD style model on style-labelled images, a supervised-contrastive loss
/// over style labels (temperature 0.1 as CSD).
///
/// With `trainers` (`csd.loss_over = "global_batch"`, the default) the loss sees the step's
/// whole global batch, as distributed contrastive learners train: `prepareStep` embeds every
/// sample of this trainer's share (micro-batch by micro-batch, so activations stay bounded by
/// `data.micro_batch`), allgathers the embeddings and labels across trainers in global-batch
/// order, and computes the loss and dL/dz of every row; each micro-batch's `run` then
/// back-propagates this trainer's own rows (re-embedding the micro-batch first unless its
/// activations are still the ones `prepareStep` left: the first micro-batch's, embedded last). The allreduce of the parameter
/// gradients sums the trainers' parts into the whole batch's gradient, so the training is the
/// same at any world size and micro-batch split. Without `trainers`, each micro-batch is its
/// own loss (which a micro-batch of 8 from 36 styles often gives no positive pair).
public final class CSDProgram: StageProgram {
    public let model: CSDModel
    public let store: ParameterStore
    public var name: String { "csd" }
    public var registries: [ParameterRegistry] { [model.registry] }
    let temperature: Double
    let trainers: Communicator?
    var acts: [CSDModel.Activations]
    let image: Tensor
    /// The step's global loss and this trainer's rows of dL/dz (global-batch mode).
    var prepared: PreparedStep?

    /// What `prepareStep` leaves for the step's micro-batches.
    struct PreparedStep {
        var loss: Double
        var anchors: Int
        /// Sample id -> its row of `gradient`.
        var rows: [Int64: Int]
        /// (n, d): dL/dz of this trainer's samples, in its step order.
        var gradient: [Float]
        /// The sample ids whose activations `acts` still holds, in order (the last micro-batch embedded).
        var cached: [Int64]
    }

    /// `trainers`: the trainers' communicator for the loss over the global batch; nil for one loss per micro-batch.
    public init(model: CSDModel, store: ParameterStore, temperature: Double, maxMicroBatch: Int, dataResolution: Int,
                trainers: Communicator? = nil) {
        self.model = model
        self.store = store
        self.temperature = temperature
        self.trainers = trainers
        acts = (0..<max(1, maxMicroBatch)).map { _ in model.makeActivations() }
        image = Tensor(zeros: [3, model.config.imageSize, model.config.imageSize])
        precondition(dataResolution == model.config.imageSize, "CSD takes \(model.config.imageSize) px images")
    }

    public static func trainable(_ p: Parameter) -> Bool { p.group == .csd }
    public func milestone(of p: Parameter) -> Int { 0 }

    public func prepareStep(_ samples: ArraySlice<LoadedSample>, globalBatch: Int, micro: Int, times: inout StepTimes) throws {
        guard let trainers else { return }
        let t0 = now()
        let n = samples.count, d = model.embedding
        let chunk = min(acts.count, micro > 0 ? micro : max(1, n))
        // (n, d): this trainer's embeddings, micro-batch by micro-batch as `run` will see them.
        // The first micro-batch is embedded last, so its activations are still there when `run` starts with it.
        var z = [Float](repeating: 0, count: n * d)
        var cached: [Int64] = []
        let starts = Array(stride(from: 0, to: n, by: chunk))
        for start in starts.dropFirst() + starts.prefix(1) {
            cached = []
            for k in start..<min(n, start + chunk) {
                let s = samples[samples.startIndex + k], a = acts[k - start]
                model.forward(image: s.target.data, a)
                for j in 0..<d { z[k * d + j] = a.embedding[j] }
                cached.append(s.sampleID)
            }
        }
        // (N, d) over the global batch, trainers in rank order: the global batch's own order.
        let allZ = try trainers.allgather(z)
        let allLabels = try trainers.allgather(samples.map(\.styleID))
        let offset = allLabels[..<trainers.rank].reduce(0) { $0 + $1.count }
        var gradient: [Float] = []
        let (loss, anchors) = SupervisedContrastive.loss(allZ.flatMap { $0 }, labels: allLabels.flatMap { $0 }, dim: d,
                                                         temperature: temperature, scale: 1, gradient: &gradient)
        var rows: [Int64: Int] = [:]
        for (k, s) in samples.enumerated() { rows[s.sampleID] = k }
        prepared = PreparedStep(loss: loss, anchors: anchors, rows: rows,
                                gradient: Array(gradient[(offset * d)..<((offset + n) * d)]), cached: cached)
        times.forward += seconds(since: t0)
        FlightRecorder.shared.record(.forward, .compute, since: t0)
    }

    public func run(_ samples: ArraySlice<LoadedSample>, epoch: Int, globalBatch: Int, milestone: ((Int) throws -> Void)?,
                    times: inout StepTimes) throws -> [SampleLoss] {
        if trainers != nil { return try runPrepared(samples, milestone: milestone, times: &times) }
        var t0 = now()
        let n = samples.count, d = model.embedding
        var z = [Float](repeating: 0, count: n * d)
        for (k, s) in samples.enumerated() {
            model.forward(image: s.target.data, acts[k])
            for j in 0..<d { z[k * d + j] = acts[k].embedding[j] }
        }
        var gradient: [Float] = []
        // This micro-batch's share of the step: its samples over the global batch.
        let (loss, anchors) = SupervisedContrastive.loss(z, labels: samples.map(\.styleID), dim: d, temperature: temperature,
                                                         scale: Double(n) / Double(globalBatch), gradient: &gradient)
        times.forward += seconds(since: t0)
        FlightRecorder.shared.record(.forward, .compute, since: t0)
        t0 = now()
        if anchors > 0 {
            for k in 0..<n {
                gradient.withUnsafeBufferPointer { model.backward(dEmbedding: $0.baseAddress! + k * d, dImage: nil, acts[k]) }
            }
        }
        times.backward += seconds(since: t0)
        FlightRecorder.shared.record(.backward, .compute, since: t0)
        try milestone?(0)
        // Each sample carries the micro-batch's loss, so the step's mean over samples is the mean over micro-batches.
        return samples.map { _ in SampleLoss(loss: loss, task: "supcon") }
    }

    /// One micro-batch of a step `prepareStep` prepared: its rows of the global dL/dz back through the model.
    func runPrepared(_ samples: ArraySlice<LoadedSample>, milestone: ((Int) throws -> Void)?, times: inout StepTimes) throws -> [SampleLoss] {
        guard let p = prepared else { preconditionFailure("stage csd: a micro-batch ran before prepareStep") }
        precondition(samples.count <= acts.count, "a micro-batch of \(samples.count) over the \(acts.count) activations allocated")
        let ids = samples.map(\.sampleID)
        if p.anchors > 0 {
            if ids != p.cached {
                // Not the micro-batch prepareStep embedded last: embed it again for its activations.
                let t0 = now()
                for (k, s) in samples.enumerated() { model.forward(image: s.target.data, acts[k]) }
                prepared?.cached = ids
                times.forward += seconds(since: t0)
                FlightRecorder.shared.record(.forward, .compute, since: t0)
            }
            let t0 = now()
            let d = model.embedding
            p.gradient.withUnsafeBufferPointer { g in
                for (k, id) in ids.enumerated() {
                    guard let row = p.rows[id] else { preconditionFailure("stage csd: sample \(id) was not in the prepared step") }
                    model.backward(dEmbedding: g.baseAddress! + row * d, dImage: nil, acts[k])
                }
            }
            times.backward += seconds(since: t0)
            FlightRecorder.shared.record(.backward, .compute, since: t0)
        }
        try milestone?(0)
        // Every sample carries the global batch's one loss.
        return samples.map { s in SampleLoss(loss: p.loss, task: "supcon", sampleID: s.sampleID) }
    }
}
