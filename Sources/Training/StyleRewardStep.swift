import Foundation
import Reward
import TensorCore
import USOModel

/// The Auxiliary Style Reward's part of a sample's step (USO's L = L_FM + lambda L_ASR):
/// x0_hat = x_t - t v_hat, decoded by the autoencoder, scored by the CSD model against the
/// sample's style reference (on a reward rank, or locally), and the reward's gradient sent
/// back through the decoder to join the flow-matching gradient at v_hat:
/// dL/dv_hat += lambda * omega'(r) / B * (-t) * d r / d x0_hat. One backward per sample.
public final class StyleRewardStep {
    public enum Service {
        /// Reward ranks answer requests.
        case dedicated(RewardClient)
        /// This trainer scores by itself.
        case colocated(StyleReward)
    }

    public let service: Service
    public let loss: RewardLoss
    public let weight: Float
    public let startStep: Int
    let model: USOModel

    public init(model: USOModel, service: Service, loss: RewardLoss, weight: Float, startStep: Int) {
        self.model = model
        self.service = service
        self.loss = loss
        self.weight = weight
        self.startStep = startStep
    }

    /// lambda at `step`: 0 before the start step, then the weight.
    public func lambda(step: Int) -> Float { step >= startStep ? weight : 0 }

    /// Per-sample buffers of the reward path.
    public final class Slot {
        let ae: Autoencoder.Activations
        let x0hat: Tensor, latent: Tensor, decoded: Tensor, gradient: Tensor, dLatent: Tensor, dTokens: Tensor
        var pending: Int64?
        var active = false
        /// The reward of the last applied reply (nil when the sample had none).
        var reward: Float?

        init(_ m: USOModel) {
            let c = m.config
            ae = m.autoencoder.makeActivations()
            x0hat = Tensor(zeros: [c.noisyTokens, c.dit.inChannels]); dTokens = Tensor(zeros: [c.noisyTokens, c.dit.inChannels])
            latent = Tensor(zeros: [c.autoencoder.latentChannels, c.autoencoder.latentSize, c.autoencoder.latentSize])
            dLatent = Tensor(zeros: [latent.count])
            decoded = Tensor(zeros: [3, c.autoencoder.imageSize, c.autoencoder.imageSize]); gradient = Tensor(zeros: [decoded.count])
        }
    }

    public func makeSlot() -> Slot { Slot(model) }

    /// Decodes x0_hat from the forward's v_hat and asks for (or computes) the reward.
    func start(_ slot: Slot, xt: Tensor, vhat: UnsafePointer<Float>, t: Float, styleImage: Tensor, styleID: Int64,
               step: Int, microBatch: Int) throws {
        let c = model.config
        for i in 0..<slot.x0hat.count { slot.x0hat.data[i] = xt.data[i] - t * vhat[i] }
        Autoencoder.unpack(slot.x0hat.data, channels: c.autoencoder.latentChannels, size: c.autoencoder.latentSize, into: slot.latent.data)
        model.autoencoder.decode(latent: slot.latent.data, image: slot.decoded.data, slot.ae)
        slot.active = true
        slot.reward = nil
        switch service {
        case .dedicated(let client):
            slot.pending = try client.submit(RewardRequest(requestID: 0, step: Int64(step), microBatch: Int32(microBatch), styleID: styleID,
                                                           size: Int32(c.autoencoder.imageSize), image: slot.decoded.toArray(),
                                                           styleImage: styleImage.toArray()))
        case .colocated(let reward):
            slot.reward = reward.reward(image: slot.decoded.data, styleImage: styleImage.data, styleID: styleID, gradient: slot.gradient.data)
        }
    }

    /// Waits for the reward if needed and adds its gradient to dv (already holding the
    /// flow-matching gradient). Returns the reward, or nil when it missed its deadline.
    func finish(_ slot: Slot, dv: Tensor, t: Float, lambda: Float, globalBatch: Int) throws -> Float? {
        guard slot.active else { return nil }
        slot.active = false
        if case .dedicated(let client) = service, let id = slot.pending {
            slot.pending = nil
            guard let reply = try client.reply(to: id) else { return nil }
            slot.reward = reply.reward
            slot.gradient.assign(reply.gradient)
        }
        guard let r = slot.reward else { return nil }
        let scale = lambda * loss.derivative(r) / Float(globalBatch)
        if scale != 0 {
            let c = model.config
            ElementwiseKernels.scale(slot.gradient.count, slot.gradient.data, by: scale, into: slot.gradient.data)
            model.autoencoder.decodeBackward(dImage: slot.gradient.data, dLatent: slot.dLatent.data, slot.ae)
            Autoencoder.pack(slot.dLatent.data, channels: c.autoencoder.latentChannels, size: c.autoencoder.latentSize, into: slot.dTokens.data)
            ElementwiseKernels.axpy(dv.count, -t, slot.dTokens.data, dv.data)
        }
        return r
    }
}
