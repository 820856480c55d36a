import FlightRecorder
import Foundation
import TensorCore
import TripletData
import USOModel

/// Stage `csd`: the CSD style model on style-labelled images, a supervised-contrastive loss
/// over each micro-batch's style labels (temperature 0.1 as CSD).
public final class CSDProgram: StageProgram {
    public let model: CSDModel
    public let store: ParameterStore
    public var name: String { "csd" }
    public var registries: [ParameterRegistry] { [model.registry] }
    let temperature: Double
    var acts: [CSDModel.Activations]
    let image: Tensor

    public init(model: CSDModel, store: ParameterStore, temperature: Double, maxMicroBatch: Int, dataResolution: Int) {
        self.model = model
        self.store = store
        self.temperature = temperature
        acts = (0..<max(1, maxMicroBatch)).map { _ in model.makeActivations() }
        image = Tensor(zeros: [3, model.config.imageSize, model.config.imageSize])
        precondition(dataResolution == model.config.imageSize, "CSD takes \(model.config.imageSize) px images")
    }

    public static func trainable(_ p: Parameter) -> Bool { p.group == .csd }
    public func milestone(of p: Parameter) -> Int { 0 }

    public func run(_ samples: ArraySlice<LoadedSample>, epoch: Int, globalBatch: Int, milestone: ((Int) throws -> Void)?,
                    times: inout StepTimes) throws -> [SampleLoss] {
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
}
