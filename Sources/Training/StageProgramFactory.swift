import Comm
import Config
import Reward
import USOModel

extension StageDescriptor {
    /// Which parameters the stage trains.
    public var trainable: (Parameter) -> Bool {
        switch stage {
        case .csd: return CSDProgram.trainable
        case .autoencoder: return AutoencoderProgram.trainable
        case .base, .uso: return DiffusionProgram.trainable(stage)
        }
    }

    /// Builds the stage's model from the preset, loads `run.init_weights` (InitialWeights'
    /// rules), gives the trainable parameters their gradients (in backward-milestone order for
    /// the diffusion stages, so gradient buckets fill front to back), and wraps it in the
    /// stage's program; stage uso gets its style reward step when `reward.mode` is on.
    func makeProgram(config: RunConfig, trainers communicator: Communicator, dataResolution: Int, rewardClient: RewardClient?) throws -> StageProgram {
        let modelConfig = config.run.preset.config, seed = UInt64(config.run.seed)
        let trainers = communicator.size
        let perTrainer = (config.data.globalBatch + trainers - 1) / trainers
        let microBatch = config.data.microBatch > 0 ? config.data.microBatch : perTrainer
        if stage == .csd {
            let csd = CSDModel(config: modelConfig)
            let store = csd.allocate(seed: seed)
            try InitialWeights.load(config.run.initWeights, stage: stage, into: [csd.registry])
            store.allocateGradients(where: trainable)
            return CSDProgram(model: csd, store: store, temperature: config.csd.temperature, maxMicroBatch: microBatch,
                              dataResolution: dataResolution,
                              trainers: config.csd.lossOver == .globalBatch ? communicator : nil)
        }
        let model = try USOModel(config: modelConfig, zeroInitOutput: true)
        let store = model.allocate(seed: seed)
        try InitialWeights.load(config.run.initWeights, stage: stage, into: [model.registry])
        if stage == .autoencoder {
            store.allocateGradients(where: trainable)
            return AutoencoderProgram(model: model, store: store)
        }
        store.allocateGradients(where: trainable, milestone: { model.milestone(of: $0.name) })
        let timesteps: FlowMatching.Timesteps = config.flow.timesteps == .shifted
            ? .shifted : .logitNormal(mean: config.flow.logitMean, std: config.flow.logitStd)
        var rewardStep: StyleRewardStep? = nil
        if config.reward.mode != .off {
            let service: StyleRewardStep.Service
            if let rewardClient {
                service = .dedicated(rewardClient)
            } else {
                service = .colocated(StyleReward(csd: try Trainer.loadCSD(config)))
            }
            rewardStep = StyleRewardStep(model: model, service: service,
                                         loss: config.reward.omega == .hinge ? .hinge(tau: Float(config.reward.tau)) : .oneMinus,
                                         weight: Float(config.reward.weight), startStep: config.reward.startStep)
        }
        return DiffusionProgram(kind: stage, model: model, store: store, flow: FlowMatching(seed: seed, timesteps: timesteps),
                                seed: seed, promptDropout: config.data.promptDropout, guidance: Float(config.flow.guidance),
                                pack: min(config.data.pack, microBatch), reward: rewardStep)
    }
}
