import Config
import FlightRecorder
import Foundation
import Reward
import TensorCore
import TripletData
import USOModel

/// Stages `base` (every DiT weight, text-to-image pairs) and `uso` (LoRA and projector,
/// triplets with condition dropout): flow matching on the autoencoder's latent tokens.
public final class DiffusionProgram: StageProgram {

    /// Stage base or uso.
    public let kind: Stage
    public let model: USOModel
    public let store: ParameterStore
    public var name: String { kind.rawValue }
    public var registries: [ParameterRegistry] { [model.registry] }
    let flow: FlowMatching
    let encoder: ConditionEncoder
    let noise: Tensor
    /// Per-pack state: up to `pack` samples go through the model together. With dedicated
    /// reward ranks two sets, a one-deep pipeline: pack k's forward runs while a reward rank
    /// scores pack k-1. Otherwise one set (forward, then backward).
    let slots: [PackSlot]
    /// Samples that go through the model together (rows packed, one GEMM per layer).
    public let pack: Int
    /// The style reward (stage uso with ASR), or nil.
    public let reward: StyleRewardStep?
    /// The step being run (the reward's lambda and its request rotation depend on it).
    public var currentStep = 0
    /// Where in its micro-batch this trainer starts (its trainer index): with dedicated reward
    /// ranks, trainers then send their requests at different moments instead of in bursts.
    public var pipelinePhase = 0
    /// Fault injection for tests (`USO_FAULT_NAN_SAMPLE`): the sample whose input (`loss`: its
    /// loss becomes NaN) or loss gradient (`backward`: the loss stays finite, the backward
    /// makes the gradients NaN) gets a NaN.
    public var poison: (sampleID: Int64, source: NonFiniteReport.Source)?
    let seed: UInt64

    /// One sample's place in a pack: its conditions (alive until the pack's forward) and what
    /// its backward needs.
    final class SampleState {
        let xt: Tensor, velocity: Tensor, dv: Tensor      // views into the pack's buffers
        let reference: Tensor, styleFeatures: Tensor, text: Tensor, pooled: Tensor
        var t: Float = 0
        var loss = 0.0
        var task = ""
        var sampleID: Int64 = -1
        var hasStyle = false
        var textRows = 0
        var useContent = false
        let asr: StyleRewardStep.Slot?
        init(_ m: USOModel, xt: Tensor, velocity: Tensor, dv: Tensor, reward: StyleRewardStep?) {
            let c = m.config
            self.xt = xt; self.velocity = velocity; self.dv = dv
            reference = Tensor(zeros: [c.referenceTokens, c.dit.inChannels])
            styleFeatures = Tensor(zeros: [1, 3, c.styleEncoder.tokens, c.styleEncoder.width])
            text = Tensor(zeros: [c.text.maxTokens, c.text.width]); pooled = Tensor(zeros: [c.text.pooledWidth])
            asr = reward?.makeSlot()
        }
    }

    final class PackSlot {
        let acts: USOModel.Activations
        /// (pack * noisy tokens, inChannels): sample b's rows at b * tokens, as the model packs v_hat.
        let xt: Tensor, velocity: Tensor, dv: Tensor
        let samples: [SampleState]
        var count = 0
        init(_ m: USOModel, pack: Int, reward: StyleRewardStep?) {
            let c = m.config, n = c.noisyTokens * c.dit.inChannels
            acts = m.makeActivations(samples: pack)
            let xt = Tensor(zeros: [pack * n]), velocity = Tensor(zeros: [pack * n]), dv = Tensor(zeros: [pack * n])
            self.xt = xt; self.velocity = velocity; self.dv = dv
            samples = (0..<pack).map { b in
                func view(_ t: Tensor) -> Tensor { Tensor(storage: t.storage, offset: b * n, shape: [c.noisyTokens, c.dit.inChannels]) }
                return SampleState(m, xt: view(xt), velocity: view(velocity), dv: view(dv), reward: reward)
            }
        }
    }
    let promptDropout: Double
    let guidance: Float

    public init(kind: Stage, model: USOModel, store: ParameterStore, flow: FlowMatching, seed: UInt64, promptDropout: Double,
                guidance: Float, pack: Int = 1, reward: StyleRewardStep? = nil) {
        precondition(pack >= 1, "pack must be at least 1")
        precondition(kind.isDiffusion, "a diffusion program trains stage base or uso, not \(kind.rawValue)")
        self.kind = kind
        self.model = model
        self.store = store
        self.flow = flow
        self.seed = seed
        self.promptDropout = promptDropout
        self.guidance = guidance
        self.reward = reward
        self.pack = pack
        encoder = ConditionEncoder(model: model)
        let c = model.config
        noise = Tensor(zeros: [c.noisyTokens, c.dit.inChannels])
        let pipelined: Bool
        if case .dedicated = reward?.service { pipelined = true } else { pipelined = false }
        slots = (0..<(pipelined ? 2 : 1)).map { _ in PackSlot(model, pack: pack, reward: reward) }
    }

    /// Stage base trains the DiT's own weights; stage uso its LoRA and the projector.
    public static func trainable(_ kind: Stage) -> (Parameter) -> Bool {
        if kind == .base { return { (p: Parameter) -> Bool in p.group == .base } }
        return { (p: Parameter) -> Bool in p.group == .lora || p.group == .projector }
    }

    public func milestone(of p: Parameter) -> Int { model.milestone(of: p.name) }

    /// Whether sample `id`'s prompt is dropped in `epoch`.
    func dropsPrompt(_ id: Int64, epoch: Int) -> Bool { Self.dropsPrompt(id, epoch: epoch, seed: seed, probability: promptDropout) }

    static func dropsPrompt(_ id: Int64, epoch: Int, seed: UInt64, probability: Double) -> Bool {
        guard probability > 0 else { return false }
        var rng = RandomStream(seed: seed, purpose: .promptDropout, id: UInt64(id) << 16 | UInt64(epoch & 0xFFFF))
        return Double(rng.nextUniform()) < probability
    }

    /// What a sample costs to train on, from what the loader knows before reading it: its
    /// joint token count L after dropout gives the DiT's work per block, 24 D^2 FLOPs per
    /// token in its products and 4 D per token pair in attention. For balancing trainers.
    public static func costModel(kind: Stage, config c: ModelConfig, seed: UInt64, promptDropout: Double) -> @Sendable (SampleOutline) -> Double {
        let d = Double(c.dit.hiddenSize), vocabulary = Vocabulary.builtIn
        return { o in
            let prompt = dropsPrompt(o.sampleID, epoch: o.epoch, seed: seed, probability: promptDropout) ? "" : o.prompt
            let textRows = TextEncoder.tokenize(prompt, vocabulary: vocabulary, maxTokens: c.text.maxTokens).count
            let image = c.noisyTokens + (kind == .uso && o.hasContentReference ? c.referenceTokens : 0)
            let style = kind == .uso && o.hasStyleReference ? c.styleTokensPerImage : 0
            let l = Double(image + style + textRows)
            return l * 24 * d * d + l * l * 4 * d
        }
    }

    public func run(_ samples: ArraySlice<LoadedSample>, epoch: Int, globalBatch: Int, milestone: ((Int) throws -> Void)?,
                    times: inout StepTimes) throws -> [SampleLoss] {
        var losses: [SampleLoss] = []
        losses.reserveCapacity(samples.count)
        let lambda = reward?.lambda(step: currentStep) ?? 0
        // Packs of up to `pack` consecutive samples. With two slots, pack k's forward (and its
        // reward requests) runs before pack k-1's backward, so a reward rank scores k-1 while
        // this trainer computes k; trainers start at different samples so that their requests
        // do not arrive in bursts.
        let pipelined = slots.count > 1
        let offset = pipelined && !samples.isEmpty ? pipelinePhase % samples.count : 0
        // The pipeline needs a next pack to overlap with: with dedicated reward ranks, at least two packs.
        let pack = pipelined ? max(1, min(self.pack, (samples.count + 1) / 2)) : self.pack
        let packs = (samples.count + pack - 1) / pack
        var pending: [PackSlot] = []  // forwards whose backward has not run, oldest first
        for k in 0..<packs {
            let slot = slots[k % slots.count]
            slot.count = 0
            for j in (k * pack)..<min(samples.count, (k + 1) * pack) {
                let s = samples[samples.startIndex + (j + offset) % samples.count]
                try encode(s, epoch: epoch, globalBatch: globalBatch, into: slot.samples[slot.count], times: &times)
                slot.count += 1
            }
            try forward(slot, firstSample: k * pack, globalBatch: globalBatch, lambda: lambda, times: &times,
                        styleImages: { b in samples[samples.startIndex + (k * pack + b + offset) % samples.count] })
            pending.append(slot)
            if pending.count == slots.count && k + 1 < packs {
                losses += try backward(pending.removeFirst(), lambda: lambda, globalBatch: globalBatch, milestone: nil, times: &times)
            }
        }
        // The last backward reports the milestones that start the gradient buckets' allreduces.
        while !pending.isEmpty {
            let p = pending.removeFirst()
            losses += try backward(p, lambda: lambda, globalBatch: globalBatch, milestone: pending.isEmpty ? milestone : nil, times: &times)
        }
        return losses
    }

    /// The frozen encoders, t, noise and x_t of one sample, into its place in a pack.
    private func encode(_ s: LoadedSample, epoch: Int, globalBatch: Int, into state: SampleState, times: inout StepTimes) throws {
        let c = model.config
        let tokens = c.noisyTokens, n = tokens * c.dit.inChannels
        let t0 = now()
        encoder.encodeImage(s.target, into: encoder.x0)
        let t = flow.t(sampleID: s.sampleID, epoch: epoch, tokens: tokens)
        state.t = t
        state.sampleID = s.sampleID
        flow.noise(sampleID: s.sampleID, epoch: epoch, into: noise.buffer)
        FlowMatching.interpolate(n, x0: encoder.x0.data, noise: noise.data, t: t, xt: state.xt.data, velocity: state.velocity.data)
        state.useContent = kind == .uso && s.hasContentReference
        state.hasStyle = kind == .uso && s.hasStyleReference
        if state.useContent { encoder.encodeImage(s.contentReference, into: state.reference) }
        if state.hasStyle {
            encoder.encodeStyle(s.styleReference)
            state.styleFeatures.copy(from: encoder.styleFeatures)
        }
        state.textRows = encoder.encodeText(dropsPrompt(s.sampleID, epoch: epoch) ? "" : s.prompt)
        state.text.copy(from: encoder.text)
        state.pooled.copy(from: encoder.pooled)
        if kind == .base {
            state.task = "t2i"
        } else {
            state.task = state.hasStyle && state.useContent ? "subject+style" : state.hasStyle ? "style" : state.useContent ? "subject" : "text"
        }
        times.forward += seconds(since: t0)
        FlightRecorder.shared.record(.forward, .compute, since: t0)
    }

    /// The pack's forward, its losses, and (stage uso with ASR) its reward requests.
    private func forward(_ slot: PackSlot, firstSample: Int, globalBatch: Int, lambda: Float, times: inout StepTimes,
                         styleImages: (Int) -> LoadedSample) throws {
        let c = model.config
        let n = c.noisyTokens * c.dit.inChannels, side = c.autoencoder.latentSize / 2
        let t0 = now()
        let batch = slot.samples.prefix(slot.count).map { st in
            USOModel.Sample(noisy: st.xt, grid: (side, side), references: st.useContent ? st.reference : nil,
                            referenceCount: st.useContent ? 1 : 0, referenceGrid: (side, side),
                            styleFeatures: st.hasStyle ? st.styleFeatures : nil,
                            styleCount: st.hasStyle ? 1 : 0, text: st.text, textRows: st.textRows,
                            pooled: st.pooled, t: st.t, guidance: guidance)
        }
        // Fault injection for tests: a NaN in the poisoned sample's input makes its loss NaN.
        for st in slot.samples.prefix(slot.count) where poison?.source == .loss && poison?.sampleID == st.sampleID { st.xt.data[0] = .nan }
        model.forward(batch: batch, slot.acts)
        for (b, st) in slot.samples.prefix(slot.count).enumerated() {
            precondition(slot.acts.dit.outputOffset(b) == b * c.noisyTokens, "v_hat packing differs from the pack's buffers")
            st.loss = FlowMatching.loss(n, vhat: slot.acts.output(b), target: st.velocity.data, scale: 1 / Float(globalBatch),
                                        dvhat: st.dv.data)
            if poison?.source == .backward && poison?.sampleID == st.sampleID { st.dv.data[0] = .nan }
            // Only samples with a style reference get the reward, and only once lambda is on.
            if let reward, let asr = st.asr, st.hasStyle, lambda > 0 {
                let s = styleImages(b)
                try reward.start(asr, xt: st.xt, vhat: slot.acts.output(b), t: st.t, styleImage: s.styleReference, styleID: s.sampleID,
                                 step: currentStep, microBatch: firstSample + b)
            }
        }
        times.forward += seconds(since: t0)
        FlightRecorder.shared.record(.forward, .compute, since: t0)
    }

    private func backward(_ slot: PackSlot, lambda: Float, globalBatch: Int, milestone: ((Int) throws -> Void)?,
                          times: inout StepTimes) throws -> [SampleLoss] {
        var rewards: [Float?] = []
        for st in slot.samples.prefix(slot.count) {
            var r: Float? = nil
            if let reward, let asr = st.asr {
                let t0 = now()
                r = try reward.finish(asr, dv: st.dv, t: st.t, lambda: lambda, globalBatch: globalBatch)
                times.rewardWait += seconds(since: t0)
            }
            rewards.append(r)
        }
        let t0 = now()
        var failure: Error?
        model.backward(dOutput: slot.dv.data, slot.acts, milestone: milestone != nil ? { m in
            do { try milestone!(m) } catch { failure = failure ?? error }
        } : nil)
        if let failure { throw failure }
        times.backward += seconds(since: t0)
        FlightRecorder.shared.record(.backward, .compute, since: t0)
        return zip(slot.samples.prefix(slot.count), rewards).map { st, r in SampleLoss(loss: st.loss, task: st.task, reward: r.map(Double.init), sampleID: st.sampleID) }
    }
}
