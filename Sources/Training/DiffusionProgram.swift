import Foundation
import Reward
import TensorCore
import TripletData
import USOModel

/// Stages `base` (every DiT weight, text-to-image pairs) and `uso` (LoRA and projector,
/// triplets with condition dropout): flow matching on the autoencoder's latent tokens.
public final class DiffusionProgram: StageProgram {
    public enum Kind: String, Sendable { case base, uso }

    public let kind: Kind
    public let model: USOModel
    public let store: ParameterStore
    public var name: String { kind.rawValue }
    public var registries: [ParameterRegistry] { [model.registry] }
    let flow: FlowMatching
    let encoder: ConditionEncoder
    let noise: Tensor
    /// Per-sample state. With dedicated reward ranks two sets, a one-deep pipeline: sample k's
    /// forward runs while a reward rank scores sample k-1. Otherwise one set (forward, then backward).
    let slots: [SampleSlot]
    /// The style reward (stage uso with ASR), or nil.
    public let reward: StyleRewardStep?
    /// The step being run (the reward's lambda and its request rotation depend on it).
    public var currentStep = 0
    /// Where in its micro-batch this trainer starts (its trainer index): with dedicated reward
    /// ranks, trainers then send their requests at different moments instead of in bursts.
    public var pipelinePhase = 0
    let seed: UInt64

    final class SampleSlot {
        let acts: USOModel.Activations
        let xt: Tensor, velocity: Tensor, dv: Tensor
        var t: Float = 0
        var loss = 0.0
        var task = ""
        let asr: StyleRewardStep.Slot?
        init(_ m: USOModel, reward: StyleRewardStep?) {
            let c = m.config
            acts = m.makeActivations()
            xt = Tensor(zeros: [c.noisyTokens, c.dit.inChannels]); velocity = Tensor(zeros: [c.noisyTokens, c.dit.inChannels])
            dv = Tensor(zeros: [c.noisyTokens, c.dit.inChannels])
            asr = reward?.makeSlot()
        }
    }
    let promptDropout: Double
    let guidance: Float

    public init(kind: Kind, model: USOModel, store: ParameterStore, flow: FlowMatching, seed: UInt64, promptDropout: Double,
                guidance: Float, reward: StyleRewardStep? = nil) {
        self.kind = kind
        self.model = model
        self.store = store
        self.flow = flow
        self.seed = seed
        self.promptDropout = promptDropout
        self.guidance = guidance
        self.reward = reward
        encoder = ConditionEncoder(model: model)
        let c = model.config
        noise = Tensor(zeros: [c.noisyTokens, c.dit.inChannels])
        let pipelined: Bool
        if case .dedicated = reward?.service { pipelined = true } else { pipelined = false }
        slots = (0..<(pipelined ? 2 : 1)).map { _ in SampleSlot(model, reward: reward) }
    }

    /// Stage base trains the DiT's own weights; stage uso its LoRA and the projector.
    public static func trainable(_ kind: Kind) -> (Parameter) -> Bool {
        switch kind {
        case .base: return { $0.group == .base }
        case .uso: return { $0.group == .lora || $0.group == .projector }
        }
    }

    public func completion(_ p: Parameter) -> Int { model.milestone(of: p.name) }

    /// Whether sample `id`'s prompt is dropped in `epoch`.
    func dropsPrompt(_ id: Int64, epoch: Int) -> Bool {
        guard promptDropout > 0 else { return false }
        var rng = RandomStream(seed: seed, purpose: .promptDropout, id: UInt64(id) << 16 | UInt64(epoch & 0xFFFF))
        return Double(rng.nextUniform()) < promptDropout
    }

    public func run(_ samples: ArraySlice<LoadedSample>, epoch: Int, globalBatch: Int, milestone: ((Int) throws -> Void)?,
                    times: inout StepTimes) throws -> [SampleLoss] {
        var losses: [SampleLoss] = []
        losses.reserveCapacity(samples.count)
        let lambda = reward?.lambda(step: currentStep) ?? 0
        // With two slots, sample k's forward (and its reward request) runs before sample k-1's
        // backward, so a reward rank scores k-1 while this trainer computes k; trainers start
        // at different samples so that their requests do not arrive in bursts.
        let pipelined = slots.count > 1
        let offset = pipelined && !samples.isEmpty ? pipelinePhase % samples.count : 0
        var pending: [SampleSlot] = []  // forwards whose backward has not run, oldest first
        for k in 0..<samples.count {
            let s = samples[samples.startIndex + (k + offset) % samples.count]
            let slot = slots[k % slots.count]
            try forward(s, epoch: epoch, globalBatch: globalBatch, microBatch: k, lambda: lambda, into: slot, times: &times)
            pending.append(slot)
            if pending.count == slots.count && k + 1 < samples.count {
                losses.append(try backward(pending.removeFirst(), lambda: lambda, globalBatch: globalBatch, milestone: nil, times: &times))
            }
        }
        // The last backward reports the milestones that start the gradient buckets' allreduces.
        while !pending.isEmpty {
            let p = pending.removeFirst()
            losses.append(try backward(p, lambda: lambda, globalBatch: globalBatch, milestone: pending.isEmpty ? milestone : nil, times: &times))
        }
        return losses
    }

    private func forward(_ s: LoadedSample, epoch: Int, globalBatch: Int, microBatch: Int, lambda: Float, into slot: SampleSlot,
                         times: inout StepTimes) throws {
        let c = model.config
        let tokens = c.noisyTokens, n = tokens * c.dit.inChannels, side = c.autoencoder.latentSize / 2
        let t0 = now()
        encoder.encodeImage(s.target, into: encoder.x0)
        let t = flow.t(sampleID: s.sampleID, epoch: epoch, tokens: tokens)
        slot.t = t
        flow.noise(sampleID: s.sampleID, epoch: epoch, into: noise.buffer)
        FlowMatching.interpolate(n, x0: encoder.x0.data, noise: noise.data, t: t, xt: slot.xt.data, velocity: slot.velocity.data)
        let useContent = kind == .uso && s.hasContentReference
        let useStyle = kind == .uso && s.hasStyleReference
        if useContent { encoder.encodeImage(s.contentReference, into: encoder.reference) }
        if useStyle { encoder.encodeStyle(s.styleReference) }
        let rows = encoder.encodeText(dropsPrompt(s.sampleID, epoch: epoch) ? "" : s.prompt)
        let sample = USOModel.Sample(noisy: slot.xt.data, grid: (side, side), references: useContent ? UnsafePointer(encoder.reference.data) : nil,
                                     referenceCount: useContent ? 1 : 0, referenceGrid: (side, side),
                                     styleFeatures: useStyle ? UnsafePointer(encoder.styleFeatures.data) : nil,
                                     styleCount: useStyle ? 1 : 0, text: encoder.text.data, textRows: rows,
                                     pooled: encoder.pooled.data, t: t, guidance: guidance)
        model.forward(sample, slot.acts)
        slot.loss = FlowMatching.loss(n, vhat: slot.acts.output.data, target: slot.velocity.data, scale: 1 / Float(globalBatch),
                                      dvhat: slot.dv.data)
        switch kind {
        case .base: slot.task = "t2i"
        case .uso: slot.task = useStyle && useContent ? "subject+style" : useStyle ? "style" : useContent ? "subject" : "text"
        }
        // Only samples with a style reference get the reward, and only once lambda is on.
        if let reward, let asr = slot.asr, useStyle, lambda > 0 {
            try reward.start(asr, xt: slot.xt, vhat: slot.acts.output.data, t: t, styleImage: s.styleReference, styleID: s.sampleID,
                             step: currentStep, microBatch: microBatch)
        }
        times.forward += seconds(since: t0)
    }

    private func backward(_ slot: SampleSlot, lambda: Float, globalBatch: Int, milestone: ((Int) throws -> Void)?,
                          times: inout StepTimes) throws -> SampleLoss {
        var r: Float? = nil
        if let reward, let asr = slot.asr {
            let t0 = now()
            r = try reward.finish(asr, dv: slot.dv, t: slot.t, lambda: lambda, globalBatch: globalBatch)
            times.rewardWait += seconds(since: t0)
        }
        let t0 = now()
        var failure: Error?
        model.backward(dOutput: slot.dv.data, slot.acts, milestone: milestone != nil ? { m in
            do { try milestone!(m) } catch { failure = failure ?? error }
        } : nil)
        if let failure { throw failure }
        times.backward += seconds(since: t0)
        return SampleLoss(loss: slot.loss, task: slot.task, reward: r.map(Double.init))
    }
}
