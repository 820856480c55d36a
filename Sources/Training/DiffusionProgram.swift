import Foundation
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
    let acts: USOModel.Activations
    let noise: Tensor, xt: Tensor, velocity: Tensor, dv: Tensor
    let seed: UInt64
    let promptDropout: Double
    let guidance: Float

    public init(kind: Kind, model: USOModel, store: ParameterStore, flow: FlowMatching, seed: UInt64, promptDropout: Double,
                guidance: Float) {
        self.kind = kind
        self.model = model
        self.store = store
        self.flow = flow
        self.seed = seed
        self.promptDropout = promptDropout
        self.guidance = guidance
        encoder = ConditionEncoder(model: model)
        acts = model.makeActivations()
        let c = model.config
        noise = Tensor(zeros: [c.noisyTokens, c.dit.inChannels]); xt = Tensor(zeros: [c.noisyTokens, c.dit.inChannels])
        velocity = Tensor(zeros: [c.noisyTokens, c.dit.inChannels]); dv = Tensor(zeros: [c.noisyTokens, c.dit.inChannels])
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
        let c = model.config
        let tokens = c.noisyTokens, n = tokens * c.dit.inChannels, side = c.autoencoder.latentSize / 2
        var losses: [SampleLoss] = []
        losses.reserveCapacity(samples.count)
        for (k, s) in zip(samples.indices, samples) {
            var t0 = now()
            encoder.encodeImage(s.target, into: encoder.x0)
            let t = flow.t(sampleID: s.sampleID, epoch: epoch, tokens: tokens)
            flow.noise(sampleID: s.sampleID, epoch: epoch, into: noise.buffer)
            FlowMatching.interpolate(n, x0: encoder.x0.data, noise: noise.data, t: t, xt: xt.data, velocity: velocity.data)
            let useContent = kind == .uso && s.hasContentReference
            let useStyle = kind == .uso && s.hasStyleReference
            if useContent { encoder.encodeImage(s.contentReference, into: encoder.reference) }
            if useStyle { encoder.encodeStyle(s.styleReference) }
            let rows = encoder.encodeText(dropsPrompt(s.sampleID, epoch: epoch) ? "" : s.prompt)
            let sample = USOModel.Sample(noisy: xt.data, grid: (side, side), references: useContent ? UnsafePointer(encoder.reference.data) : nil,
                                         referenceCount: useContent ? 1 : 0, referenceGrid: (side, side),
                                         styleFeatures: useStyle ? UnsafePointer(encoder.styleFeatures.data) : nil,
                                         styleCount: useStyle ? 1 : 0, text: encoder.text.data, textRows: rows,
                                         pooled: encoder.pooled.data, t: t, guidance: guidance)
            model.forward(sample, acts)
            let loss = FlowMatching.loss(n, vhat: acts.output.data, target: velocity.data, scale: 1 / Float(globalBatch), dvhat: dv.data)
            times.forward += seconds(since: t0)
            t0 = now()
            let last = k == samples.indices.last
            var failure: Error?
            model.backward(dOutput: dv.data, acts, milestone: last && milestone != nil ? { m in
                do { try milestone!(m) } catch { failure = failure ?? error }
            } : nil)
            if let failure { throw failure }
            times.backward += seconds(since: t0)
            let task: String
            switch kind {
            case .base: task = "t2i"
            case .uso: task = useStyle && useContent ? "subject+style" : useStyle ? "style" : useContent ? "subject" : "text"
            }
            losses.append(SampleLoss(loss: loss, task: task))
        }
        return losses
    }
}
