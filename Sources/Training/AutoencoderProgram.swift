import FlightRecorder
import Foundation
import TensorCore
import TripletData
import USOModel

/// Stage `autoencoder`: fits the autoencoder (encoder and decoder) to reconstruct images,
/// mean squared error on pixels in [-1, 1].
public final class AutoencoderProgram: StageProgram {
    public let model: USOModel
    public let store: ParameterStore
    public var name: String { "autoencoder" }
    public var registries: [ParameterRegistry] { [model.registry] }
    let acts: Autoencoder.Activations
    let latent: Tensor, dLatent: Tensor, recon: Tensor, dRecon: Tensor

    public init(model: USOModel, store: ParameterStore) {
        self.model = model
        self.store = store
        acts = model.autoencoder.makeActivations()
        let c = model.config.autoencoder
        latent = Tensor(zeros: [c.latentChannels * c.latentSize * c.latentSize]); dLatent = Tensor(zeros: [latent.count])
        recon = Tensor(zeros: [3 * c.imageSize * c.imageSize]); dRecon = Tensor(zeros: [recon.count])
    }

    public static func trainable(_ p: Parameter) -> Bool { p.group == .autoencoder }
    public func milestone(of p: Parameter) -> Int { 0 }

    public func run(_ samples: ArraySlice<LoadedSample>, epoch: Int, globalBatch: Int, milestone: ((Int) throws -> Void)?,
                    times: inout StepTimes) throws -> [SampleLoss] {
        var losses: [SampleLoss] = []
        for s in samples {
            var t0 = now()
            model.autoencoder.encode(image: s.target.data, latent: latent.data, acts)
            model.autoencoder.decode(latent: latent.data, image: recon.data, acts)
            let loss = FlowMatching.loss(recon.count, vhat: recon.data, target: s.target.data, scale: 1 / Float(globalBatch),
                                         dvhat: dRecon.data)
            times.forward += seconds(since: t0)
            FlightRecorder.shared.record(.forward, .compute, since: t0)
            t0 = now()
            model.autoencoder.decodeBackward(dImage: dRecon.data, dLatent: dLatent.data, acts)
            model.autoencoder.encodeBackward(dLatent: dLatent.data, image: s.target.data, acts)
            times.backward += seconds(since: t0)
            FlightRecorder.shared.record(.backward, .compute, since: t0)
            losses.append(SampleLoss(loss: loss, task: "reconstruction"))
        }
        try milestone?(0)
        return losses
    }
}
