import Foundation
import USOModel

// Every key of a section is declared once, as a `ConfigKey` (name, type, default, range,
// doc): the parser reads it and the generated docs show it.
/// `[run]`: what is trained, from what, for how long, and where it goes.
public struct RunSection: Sendable, Equatable {
    public var stage: Stage = .uso
    public var preset: ModelPreset = .small
    public var out: String = ""
    public var seed: Int = 42
    public var steps: Int = 1000
    public var initWeights: String = ""
    public var logEvery: Int = 1
    public var saveEvery: Int = 0
    public var checksumEvery: Int = 50
    public var keepLast: Int = 2
    public var keepEvery: Int = 0
    public var saveInBackground: Bool = true

    public init() {}

    // The keys.
    public static let stageKey = ConfigKey<Stage>.choice("run.stage", default: .uso,
        "What is trained: the autoencoder (on triplet targets), the base DiT (all its weights, text-to-image pairs), the CSD style model (style-labelled images), or USO's LoRA and projector (triplets).")
    public static let presetKey = ConfigKey<ModelPreset>.choice("run.preset", default: .small, among: ModelPreset.trainable,
        "Model size; the data's image size must be the preset's (tiny 32 px, small 64 px).")
    public static let outKey = ConfigKey<String>.text("run.out", default: "", shownDefault: "\"runs/<stage>\"", allowed: "a folder",
        "The run folder: metrics.jsonl, checkpoints/ (step_N/ each, latest), weights/ (the final weights) and config.toml go here.")
    public static let seedKey = ConfigKey<Int>.integer("run.seed", default: 42, in: 0...(1 << 62),
        "Seed of initial weights and of every sample's t, noise, dropout and the shuffle (keyed by sample id, not rank).")
    public static let stepsKey = ConfigKey<Int>.integer("run.steps", default: 1000, in: 1...Int(Int32.max),
        "Optimizer steps.")
    public static let initWeightsKey = ConfigKey<String>.text("run.init_weights", default: "", allowed: "a weights folder, \"\" or \"random\"",
        "Weights to start from; every group the stage needs must be in the folder or the run stops naming the file. Stage base: the autoencoder run's weights/ (autoencoder, text encoder); uso: the base run's weights/ (base DiT, encoders, autoencoder). \"\" trains from random values where the stage starts from nothing (autoencoder, csd) and is refused by base and uso; \"random\" starts every group from random values (tests and benchmarks).")
    public static let logEveryKey = ConfigKey<Int>.integer("run.log_every", default: 1, in: 1...Int(Int32.max),
        "Steps between metrics lines.")
    public static let saveEveryKey = ConfigKey<Int>.integer("run.save_every", default: 0, in: 0...Int(Int32.max),
        "Steps between checkpoints (RUN/checkpoints/step_N/; 0: only at the end).")
    public static let keepLastKey = ConfigKey<Int>.integer("run.keep_last", default: 2, in: 2...Int(Int32.max),
        "Complete checkpoints kept, newest first (at least 2: the newest may still be writing when a crash comes).")
    public static let keepEveryKey = ConfigKey<Int>.integer("run.keep_every", default: 0, in: 0...Int(Int32.max),
        "Also keep every checkpoint whose step is a multiple of this (0: only the last run.keep_last).")
    public static let saveInBackgroundKey = ConfigKey<Bool>.boolean("run.save_in_background", default: true,
        "Write checkpoints on a helper thread: the step that saves blocks only to copy the state in memory (the trainable weights and AdamW's moments, held until written), and the checkpoint gets its DONE at a later step once every trainer's files are synced. false writes in the foreground and needs no copy.")
    public static let checksumEveryKey = ConfigKey<Int>.integer("run.checksum_every", default: 50, in: 0...Int(Int32.max),
        "Steps between checks that every trainer holds the same trainable weights (0: never).")

    public static let keys: [ConfigKeySpec] = [stageKey.spec, presetKey.spec, outKey.spec, seedKey.spec, stepsKey.spec, initWeightsKey.spec, logEveryKey.spec, saveEveryKey.spec, checksumEveryKey.spec, keepLastKey.spec, keepEveryKey.spec, saveInBackgroundKey.spec]

    init(_ r: ConfigTableReader) throws(ConfigError) {
        stage = try r.read(Self.stageKey)
        preset = try r.read(Self.presetKey)
        out = try r.read(Self.outKey)
        seed = try r.read(Self.seedKey)
        steps = try r.read(Self.stepsKey)
        initWeights = try r.read(Self.initWeightsKey)
        logEvery = try r.read(Self.logEveryKey)
        saveEvery = try r.read(Self.saveEveryKey)
        checksumEvery = try r.read(Self.checksumEveryKey)
        keepLast = try r.read(Self.keepLastKey)
        keepEvery = try r.read(Self.keepEveryKey)
        saveInBackground = try r.read(Self.saveInBackgroundKey)
        try r.finish(allowed: Self.keys.map(\.name))
    }
}

/// `[data]`: which set, and how many samples per step.
public struct DataSection: Sendable, Equatable {
    public var path: String = ""
    public var globalBatch: Int = 8
    public var microBatch: Int = 0
    public var pack: Int = 4
    public var balance: Bool = true
    public var conditionDropout: Double = 0.25
    public var promptDropout: Double = 0.1
    public var prefetch: Int = 2
    public var verifyCRC: Bool = true

    public init() {}

    // The keys.
    public static let pathKey = ConfigKey<String>.text("data.path", default: "", shownDefault: "\"data/<set>\"", allowed: "a set folder or manifest",
        "The set: triplets for stages uso and autoencoder, pairs for base, styles for csd.")
    public static let globalBatchKey = ConfigKey<Int>.integer("data.global_batch", default: 8, in: 1...1_000_000,
        "Samples per optimizer step over all trainers; split into contiguous per-trainer slices.")
    public static let microBatchKey = ConfigKey<Int>.integer("data.micro_batch", default: 0, in: 0...1_000_000,
        "Samples per micro-batch on a trainer (0: the whole slice in one); gradients accumulate over micro-batches.")
    public static let packKey = ConfigKey<Int>.integer("data.pack", default: 4, in: 1...64,
        "Samples of a micro-batch that go through the DiT together (their rows packed: one GEMM per layer, attention per sample); 1: one at a time. Activation memory grows with it.")
    public static let balanceKey = ConfigKey<Bool>.boolean("data.balance", default: true,
        "Split each global batch between trainers by estimated cost (token counts after dropout) instead of in contiguous slices, so they reach the gradient sync together; the batch, and so training, is the same.")
    public static let conditionDropoutKey = ConfigKey<Double>.number("data.condition_dropout", default: 0.25, in: 0...0.5,
        "Probability of dropping the style reference, and separately of dropping the content reference (never both).")
    public static let promptDropoutKey = ConfigKey<Double>.number("data.prompt_dropout", default: 0.1, in: 0...1,
        "Probability of training on an empty prompt (keyed by sample id and epoch).")
    public static let prefetchKey = ConfigKey<Int>.integer("data.prefetch", default: 2, in: 1...16,
        "Steps the loader prepares ahead on its thread.")
    public static let verifyCRCKey = ConfigKey<Bool>.boolean("data.verify_crc", default: true,
        "Recompute every shard's CRC-32 when the set is opened; false skips only that (for speed on a set `uso data inspect` verified), never the manifest checks (kind, count, sample ids, recorded checksums).")

    public static let keys: [ConfigKeySpec] = [pathKey.spec, globalBatchKey.spec, microBatchKey.spec, packKey.spec, balanceKey.spec, conditionDropoutKey.spec, promptDropoutKey.spec, prefetchKey.spec, verifyCRCKey.spec]

    init(_ r: ConfigTableReader) throws(ConfigError) {
        path = try r.read(Self.pathKey)
        globalBatch = try r.read(Self.globalBatchKey)
        microBatch = try r.read(Self.microBatchKey)
        pack = try r.read(Self.packKey)
        balance = try r.read(Self.balanceKey)
        conditionDropout = try r.read(Self.conditionDropoutKey)
        promptDropout = try r.read(Self.promptDropoutKey)
        prefetch = try r.read(Self.prefetchKey)
        verifyCRC = try r.read(Self.verifyCRCKey)
        try r.finish(allowed: Self.keys.map(\.name))
    }
}

/// `[optim]`: AdamW, clipping and the learning-rate schedule.
public struct OptimSection: Sendable, Equatable {
    public var lr: Double = 1e-4
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var eps: Double = 1e-8
    public var weightDecay: Double = 0.01
    public var gradClip: Double = 1.0
    public var warmupSteps: Int = 0
    public var schedule: LRSchedule = .constant
    public var minLR: Double = 0.0
    public var shardState: Bool = false

    public init() {}

    // The keys.
    public static let lrKey = ConfigKey<Double>.number("optim.lr", default: 1e-4, in: 1e-12...10,
        "Peak learning rate.")
    public static let beta1Key = ConfigKey<Double>.number("optim.beta1", default: 0.9, in: 0...0.999999,
        "AdamW's first-moment decay.")
    public static let beta2Key = ConfigKey<Double>.number("optim.beta2", default: 0.999, in: 0...0.9999999,
        "AdamW's second-moment decay.")
    public static let epsKey = ConfigKey<Double>.number("optim.eps", default: 1e-8, in: 1e-20...1,
        "AdamW's epsilon.")
    public static let weightDecayKey = ConfigKey<Double>.number("optim.weight_decay", default: 0.01, in: 0...10,
        "Decoupled weight decay.")
    public static let gradClipKey = ConfigKey<Double>.number("optim.grad_clip", default: 1.0, in: 0...1e9,
        "Maximum global gradient norm (0: no clipping).")
    public static let warmupStepsKey = ConfigKey<Int>.integer("optim.warmup_steps", default: 0, in: 0...Int(Int32.max),
        "Steps of linear warm-up from 0 to the peak rate.")
    public static let scheduleKey = ConfigKey<LRSchedule>.choice("optim.schedule", default: .constant,
        "After warm-up: constant, or cosine decay to min_lr at the last step.")
    public static let minLRKey = ConfigKey<Double>.number("optim.min_lr", default: 0.0, in: 0...10,
        "The cosine schedule's final rate.")
    public static let shardStateKey = ConfigKey<Bool>.boolean("optim.shard_state", default: false,
        "ZeRO-1: each trainer owns a contiguous slice of the flat trainable vector and keeps AdamW's moments for it alone (optimizer memory per trainer falls by the trainer count); gradients are reduce-scattered and the updated weights allgathered instead of allreduced. Checkpoints then hold one optimizer shard per trainer.")

    public static let keys: [ConfigKeySpec] = [lrKey.spec, beta1Key.spec, beta2Key.spec, epsKey.spec, weightDecayKey.spec, gradClipKey.spec, warmupStepsKey.spec, scheduleKey.spec, minLRKey.spec, shardStateKey.spec]

    init(_ r: ConfigTableReader) throws(ConfigError) {
        lr = try r.read(Self.lrKey)
        beta1 = try r.read(Self.beta1Key)
        beta2 = try r.read(Self.beta2Key)
        eps = try r.read(Self.epsKey)
        weightDecay = try r.read(Self.weightDecayKey)
        gradClip = try r.read(Self.gradClipKey)
        warmupSteps = try r.read(Self.warmupStepsKey)
        schedule = try r.read(Self.scheduleKey)
        minLR = try r.read(Self.minLRKey)
        shardState = try r.read(Self.shardStateKey)
        try r.finish(allowed: Self.keys.map(\.name))
    }
}

/// `[flow]`: how timesteps are drawn for flow matching.
public struct FlowSection: Sendable, Equatable {
    public enum Timesteps: String, Sendable, CaseIterable {
        case shifted
        case logitNormal = "logit_normal"
    }

    public var timesteps: Timesteps = .shifted
    public var logitMean: Double = 0.0
    public var logitStd: Double = 1.0
    public var guidance: Double = 1.0

    public init() {}

    // The keys.
    public static let timestepsKey = ConfigKey<Timesteps>.choice("flow.timesteps", default: .shifted,
        "shifted: uniform on a 1000-point grid remapped by FLUX's shift (UNO's trainer); logit_normal: sigmoid of a normal.")
    public static let logitMeanKey = ConfigKey<Double>.number("flow.logit_mean", default: 0.0, in: nil,
        "Mean of the logit-normal.")
    public static let logitStdKey = ConfigKey<Double>.number("flow.logit_std", default: 1.0, in: 1e-6...100,
        "Std of the logit-normal.")
    public static let guidanceKey = ConfigKey<Double>.number("flow.guidance", default: 1.0, in: nil,
        "The guidance value fed to the guidance embedding during training (FLUX-dev: 1).")

    public static let keys: [ConfigKeySpec] = [timestepsKey.spec, logitMeanKey.spec, logitStdKey.spec, guidanceKey.spec]

    init(_ r: ConfigTableReader) throws(ConfigError) {
        timesteps = try r.read(Self.timestepsKey)
        logitMean = try r.read(Self.logitMeanKey)
        logitStd = try r.read(Self.logitStdKey)
        guidance = try r.read(Self.guidanceKey)
        try r.finish(allowed: Self.keys.map(\.name))
    }
}

/// `[sync]`: how gradients travel between trainers.
public struct SyncSection: Sendable, Equatable {
    public var strategy: SyncStrategy = .overlap
    public var bucketMiB: Double = 2.0

    public init() {}

    // The keys.
    public static let strategyKey = ConfigKey<SyncStrategy>.choice("sync.strategy", default: .overlap,
        "overlap: each bucket's non-blocking allreduce starts as soon as its gradients are final, during the last backward; after_backward: the same buckets after it; single: one allreduce of everything.")
    public static let bucketMiBKey = ConfigKey<Double>.number("sync.bucket_mib", default: 2.0, in: 0.001...1024,
        "Bucket size in MiB; 2 MiB is where `uso bench allreduce` peaks on these machines (12 GB/s busbw at 2 ranks).")

    public static let keys: [ConfigKeySpec] = [strategyKey.spec, bucketMiBKey.spec]

    init(_ r: ConfigTableReader) throws(ConfigError) {
        strategy = try r.read(Self.strategyKey)
        bucketMiB = try r.read(Self.bucketMiBKey)
        try r.finish(allowed: Self.keys.map(\.name))
    }
}

/// `[csd]`: the CSD style model's training.
public struct CSDSection: Sendable, Equatable {
    /// Which samples one supervised-contrastive loss sees (`csd.loss_over`).
    public enum LossScope: String, Sendable, CaseIterable {
        /// The step's whole global batch: every trainer's embeddings allgathered, the
        /// gradient of each trainer's own rows back-propagated where they were computed.
        case globalBatch = "global_batch"
        /// Each micro-batch on its own (the loss of earlier runs; it depends on the split).
        case microBatch = "micro_batch"
    }

    public var temperature: Double = 0.1
    public var lossOver: LossScope = .globalBatch
    public var imagesPerStyle: Int = 4

    public init() {}

    // The keys.
    public static let temperatureKey = ConfigKey<Double>.number("csd.temperature", default: 0.1, in: 1e-4...100,
        "Temperature of the supervised-contrastive loss over style labels (CSD: 0.1).")
    public static let lossOverKey = ConfigKey<LossScope>.choice("csd.loss_over", default: .globalBatch,
        "global_batch: one loss over the step's global batch, embeddings allgathered across trainers (the same training at any world size and micro-batch split); micro_batch: one loss per micro-batch, which often holds no two images of one style.")
    public static let imagesPerStyleKey = ConfigKey<Int>.integer("csd.images_per_style", default: 4, in: 1...1024,
        "K: the data plan hands out each style's images K at a time, so a global batch of B holds B/K styles with K images each (1: plain shuffle). Must divide data.global_batch.")

    public static let keys: [ConfigKeySpec] = [temperatureKey.spec, lossOverKey.spec, imagesPerStyleKey.spec]

    init(_ r: ConfigTableReader) throws(ConfigError) {
        temperature = try r.read(Self.temperatureKey)
        lossOver = try r.read(Self.lossOverKey)
        imagesPerStyle = try r.read(Self.imagesPerStyleKey)
        try r.finish(allowed: Self.keys.map(\.name))
    }
}

/// `[reward]`: the Auxiliary Style Reward.
public struct RewardSection: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable { case off, colocated, dedicated, service }
    public enum Omega: String, Sendable, CaseIterable {
        case oneMinus = "one_minus"
        case hinge
    }

    public var mode: Mode = .off
    public var csdWeights: String = ""
    public var startStep: Int = 0
    public var weight: Double = 1.0
    public var omega: Omega = .oneMinus
    public var tau: Double = 0.5
    public var deadlineMs: Double = 5000.0
    /// Mode service: the `uso reward serve` addresses, host:port each.
    public var service: [String] = []
    public var required = false
    public var connectTimeoutS: Double = 30

    public init() {}

    // The keys.
    public static let modeKey = ConfigKey<Mode>.choice("reward.mode", default: .off,
        "The style reward of stage uso: off; colocated (each trainer runs the CSD model itself); dedicated (cluster.reward_ranks ranks of the job host it and answer requests; one of them dying ends the job, as Open MPI ends a job that loses a process); service (uso reward serve processes outside the job, at reward.service, host it: one lost is reported and training goes on without it).")
    public static let csdWeightsKey = ConfigKey<String>.text("reward.csd_weights", default: "", allowed: "a weights folder holding csd.safetensors",
        "The CSD style model to score with (stage csd's weights/).")
    public static let startStepKey = ConfigKey<Int>.integer("reward.start_step", default: 0, in: 0...Int(Int32.max),
        "The step S from which the reward's weight lambda applies (lambda = 0 before S, as USO warms up with flow matching alone).")
    public static let weightKey = ConfigKey<Double>.number("reward.weight", default: 1.0, in: 0...1e6,
        "lambda after start_step (USO: 1).")
    public static let omegaKey = ConfigKey<Omega>.choice("reward.omega", default: .oneMinus,
        "How a reward r becomes a loss: 1 - r, or max(0, tau - r).")
    public static let tauKey = ConfigKey<Double>.number("reward.tau", default: 0.5, in: -1...1,
        "The hinge's target reward.")
    public static let deadlineMsKey = ConfigKey<Double>.number("reward.deadline_ms", default: 5000.0, in: 1...1e9,
        "How long a trainer waits for a reply; a late reply is counted, dropped when it comes, and that sample goes on without the reward.")

    public static let serviceKey = ConfigKey<String>.text("reward.service", default: "", allowed: "host:port, comma-separated",
        "Mode service: where the uso reward serve processes listen (for example \"10.0.0.9:7311,10.0.0.10:7311\"); requests rotate over them as over reward ranks.")
    public static let requiredKey = ConfigKey<Bool>.boolean("reward.required", default: false,
        "Mode service: end the job when a reward service is lost (or cannot be reached at start) instead of reporting it once and training on without it; samples it would have rewarded count as reward misses.")
    public static let connectTimeoutKey = ConfigKey<Double>.number("reward.connect_timeout_s", default: 30, in: 0.1...3600,
        "Mode service: how long a trainer tries to reach each service at start (it may still be loading its model).")

    public static let keys: [ConfigKeySpec] = [modeKey.spec, csdWeightsKey.spec, startStepKey.spec, weightKey.spec, omegaKey.spec, tauKey.spec, deadlineMsKey.spec,
                                               serviceKey.spec, requiredKey.spec, connectTimeoutKey.spec]

    init(_ r: ConfigTableReader) throws(ConfigError) {
        mode = try r.read(Self.modeKey)
        csdWeights = try r.read(Self.csdWeightsKey)
        startStep = try r.read(Self.startStepKey)
        weight = try r.read(Self.weightKey)
        omega = try r.read(Self.omegaKey)
        tau = try r.read(Self.tauKey)
        deadlineMs = try r.read(Self.deadlineMsKey)
        let list = try r.read(Self.serviceKey)
        service = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        required = try r.read(Self.requiredKey)
        connectTimeoutS = try r.read(Self.connectTimeoutKey)
        for a in service where a.lastIndex(of: ":").flatMap({ UInt16(a[a.index(after: $0)...]) }) == nil {
            throw r.invalid(Self.serviceKey.spec, "\"\(a)\" is not host:port (for example 10.0.0.9:7311)")
        }
        if mode == .service && service.isEmpty {
            throw r.invalid(Self.serviceKey.spec, "reward.mode = \"service\" needs the services' addresses (host:port, comma-separated)")
        }
        try r.finish(allowed: Self.keys.map(\.name))
    }
}
