import USOModel

/// `[run]`: what is trained, from what, for how long, and where it goes.
public struct RunSection: Sendable, Equatable {
    public var stage: Stage = .uso
    public var preset: ModelPreset = .small
    public var out = ""
    public var seed = 42
    public var steps = 1000
    public var initWeights = ""
    public var logEvery = 1
    public var saveEvery = 0
    public var checksumEvery = 50

    public init() {}

    public static let keys: [ConfigKeySpec] = [
        ConfigKeySpec(key: "run.stage", type: "string", defaultValue: "\"uso\"", allowed: "\"base\" | \"csd\" | \"uso\" | \"autoencoder\"",
                      summary: "What is trained: the autoencoder (on triplet targets), the base DiT (all its weights, text-to-image pairs), the CSD style model (style-labelled images), or USO's LoRA and projector (triplets)."),
        ConfigKeySpec(key: "run.preset", type: "string", defaultValue: "\"small\"", allowed: "\"tiny\" | \"small\"",
                      summary: "Model size; the data's image size must be the preset's (tiny 32 px, small 64 px)."),
        ConfigKeySpec(key: "run.out", type: "string", defaultValue: "\"runs/<stage>\"", allowed: "a folder",
                      summary: "The run folder: metrics.jsonl, weights/, state/ and samples go here."),
        ConfigKeySpec(key: "run.seed", type: "integer", defaultValue: "42", allowed: "0 ... 2^62",
                      summary: "Seed of initial weights and of every sample's t, noise, dropout and the shuffle (keyed by sample id, not rank)."),
        ConfigKeySpec(key: "run.steps", type: "integer", defaultValue: "1000", allowed: "1 ...", summary: "Optimizer steps."),
        ConfigKeySpec(key: "run.init_weights", type: "string", defaultValue: "\"\"", allowed: "a weights folder, \"\" or \"random\"",
                      summary: "Weights to start from; every group the stage needs must be in the folder or the run stops naming the file. Stage base: the autoencoder run's weights/ (autoencoder, text encoder); uso: the base run's weights/ (base DiT, encoders, autoencoder). \"\" trains from random values where the stage starts from nothing (autoencoder, csd) and is refused by base and uso; \"random\" starts every group from random values (tests and benchmarks)."),
        ConfigKeySpec(key: "run.log_every", type: "integer", defaultValue: "1", allowed: "1 ...", summary: "Steps between metrics lines."),
        ConfigKeySpec(key: "run.save_every", type: "integer", defaultValue: "0", allowed: "0 ...",
                      summary: "Steps between saved weights and state (0: only at the end)."),
        ConfigKeySpec(key: "run.checksum_every", type: "integer", defaultValue: "50", allowed: "0 ...",
                      summary: "Steps between checks that every trainer holds the same trainable weights (0: never)."),
    ]

    init(_ r: ConfigTableReader) throws(ConfigError) {
        stage = try r.choice("stage", default: stage)
        preset = try r.choice("preset", default: preset, among: ModelPreset.trainable)
        out = try r.string("out", default: out)
        seed = try r.int("seed", default: seed, in: 0...(1 << 62))
        steps = try r.int("steps", default: steps, in: 1...Int(Int32.max))
        initWeights = try r.string("init_weights", default: initWeights)
        logEvery = try r.int("log_every", default: logEvery, in: 1...Int(Int32.max))
        saveEvery = try r.int("save_every", default: saveEvery, in: 0...Int(Int32.max))
        checksumEvery = try r.int("checksum_every", default: checksumEvery, in: 0...Int(Int32.max))
        try r.finish(allowed: Self.keys.map(\.name))
    }
}

/// `[data]`: which set, and how many samples per step.
public struct DataSection: Sendable, Equatable {
    public var path = ""
    public var globalBatch = 8
    public var microBatch = 0
    public var pack = 4
    public var balance = true
    public var conditionDropout = 0.25
    public var promptDropout = 0.1
    public var prefetch = 2
    public var verifyCRC = true

    public init() {}

    public static let keys: [ConfigKeySpec] = [
        ConfigKeySpec(key: "data.path", type: "string", defaultValue: "\"data/<set>\"", allowed: "a set folder or manifest",
                      summary: "The set: triplets for stages uso and autoencoder, pairs for base, styles for csd."),
        ConfigKeySpec(key: "data.global_batch", type: "integer", defaultValue: "8", allowed: "1 ...",
                      summary: "Samples per optimizer step over all trainers; split into contiguous per-trainer slices."),
        ConfigKeySpec(key: "data.micro_batch", type: "integer", defaultValue: "0", allowed: "0 ...",
                      summary: "Samples per micro-batch on a trainer (0: the whole slice in one); gradients accumulate over micro-batches."),
        ConfigKeySpec(key: "data.pack", type: "integer", defaultValue: "4", allowed: "1 ... 64",
                      summary: "Samples of a micro-batch that go through the DiT together (their rows packed: one GEMM per layer, attention per sample); 1: one at a time. Activation memory grows with it."),
        ConfigKeySpec(key: "data.balance", type: "boolean", defaultValue: "true", allowed: "true | false",
                      summary: "Split each global batch between trainers by estimated cost (token counts after dropout) instead of in contiguous slices, so they reach the gradient sync together; the batch, and so training, is the same."),
        ConfigKeySpec(key: "data.condition_dropout", type: "float", defaultValue: "0.25", allowed: "0 ... 0.5",
                      summary: "Probability of dropping the style reference, and separately of dropping the content reference (never both)."),
        ConfigKeySpec(key: "data.prompt_dropout", type: "float", defaultValue: "0.1", allowed: "0 ... 1",
                      summary: "Probability of training on an empty prompt (keyed by sample id and epoch)."),
        ConfigKeySpec(key: "data.prefetch", type: "integer", defaultValue: "2", allowed: "1 ... 16",
                      summary: "Steps the loader prepares ahead on its thread."),
        ConfigKeySpec(key: "data.verify_crc", type: "boolean", defaultValue: "true", allowed: "true | false",
                      summary: "Recompute every shard's CRC-32 when the set is opened; false skips only that (for speed on a set `uso data inspect` verified), never the manifest checks (kind, count, sample ids, recorded checksums)."),
    ]

    init(_ r: ConfigTableReader) throws(ConfigError) {
        path = try r.string("path", default: path)
        globalBatch = try r.int("global_batch", default: globalBatch, in: 1...1_000_000)
        microBatch = try r.int("micro_batch", default: microBatch, in: 0...1_000_000)
        pack = try r.int("pack", default: pack, in: 1...64)
        balance = try r.bool("balance", default: balance)
        conditionDropout = try r.double("condition_dropout", default: conditionDropout, in: 0...0.5)
        promptDropout = try r.double("prompt_dropout", default: promptDropout, in: 0...1)
        prefetch = try r.int("prefetch", default: prefetch, in: 1...16)
        verifyCRC = try r.bool("verify_crc", default: verifyCRC)
        try r.finish(allowed: Self.keys.map(\.name))
    }
}

/// `[optim]`: AdamW, clipping and the learning-rate schedule.
public struct OptimSection: Sendable, Equatable {
    public var lr = 1e-4
    public var beta1 = 0.9
    public var beta2 = 0.999
    public var eps = 1e-8
    public var weightDecay = 0.01
    public var gradClip = 1.0
    public var warmupSteps = 0
    public var schedule: LRSchedule = .constant
    public var minLR = 0.0

    public init() {}

    public static let keys: [ConfigKeySpec] = [
        ConfigKeySpec(key: "optim.lr", type: "float", defaultValue: "1e-4", allowed: "> 0", summary: "Peak learning rate."),
        ConfigKeySpec(key: "optim.beta1", type: "float", defaultValue: "0.9", allowed: "0 ... 1", summary: "AdamW's first-moment decay."),
        ConfigKeySpec(key: "optim.beta2", type: "float", defaultValue: "0.999", allowed: "0 ... 1", summary: "AdamW's second-moment decay."),
        ConfigKeySpec(key: "optim.eps", type: "float", defaultValue: "1e-8", allowed: "> 0", summary: "AdamW's epsilon."),
        ConfigKeySpec(key: "optim.weight_decay", type: "float", defaultValue: "0.01", allowed: ">= 0", summary: "Decoupled weight decay."),
        ConfigKeySpec(key: "optim.grad_clip", type: "float", defaultValue: "1.0", allowed: ">= 0",
                      summary: "Maximum global gradient norm (0: no clipping)."),
        ConfigKeySpec(key: "optim.warmup_steps", type: "integer", defaultValue: "0", allowed: "0 ...",
                      summary: "Steps of linear warm-up from 0 to the peak rate."),
        ConfigKeySpec(key: "optim.schedule", type: "string", defaultValue: "\"constant\"", allowed: "\"constant\" | \"cosine\"",
                      summary: "After warm-up: constant, or cosine decay to min_lr at the last step."),
        ConfigKeySpec(key: "optim.min_lr", type: "float", defaultValue: "0", allowed: ">= 0", summary: "The cosine schedule's final rate."),
    ]

    init(_ r: ConfigTableReader) throws(ConfigError) {
        lr = try r.double("lr", default: lr, in: 1e-12...10)
        beta1 = try r.double("beta1", default: beta1, in: 0...0.999999)
        beta2 = try r.double("beta2", default: beta2, in: 0...0.9999999)
        eps = try r.double("eps", default: eps, in: 1e-20...1)
        weightDecay = try r.double("weight_decay", default: weightDecay, in: 0...10)
        gradClip = try r.double("grad_clip", default: gradClip, in: 0...1e9)
        warmupSteps = try r.int("warmup_steps", default: warmupSteps, in: 0...Int(Int32.max))
        schedule = try r.choice("schedule", default: schedule)
        minLR = try r.double("min_lr", default: minLR, in: 0...10)
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
    public var logitMean = 0.0
    public var logitStd = 1.0
    public var guidance = 1.0

    public init() {}

    public static let keys: [ConfigKeySpec] = [
        ConfigKeySpec(key: "flow.timesteps", type: "string", defaultValue: "\"shifted\"", allowed: "\"shifted\" | \"logit_normal\"",
                      summary: "shifted: uniform on a 1000-point grid remapped by FLUX's shift (UNO's trainer); logit_normal: sigmoid of a normal."),
        ConfigKeySpec(key: "flow.logit_mean", type: "float", defaultValue: "0", allowed: "any", summary: "Mean of the logit-normal."),
        ConfigKeySpec(key: "flow.logit_std", type: "float", defaultValue: "1", allowed: "> 0", summary: "Std of the logit-normal."),
        ConfigKeySpec(key: "flow.guidance", type: "float", defaultValue: "1", allowed: "any",
                      summary: "The guidance value fed to the guidance embedding during training (FLUX-dev: 1)."),
    ]

    init(_ r: ConfigTableReader) throws(ConfigError) {
        timesteps = try r.choice("timesteps", default: timesteps)
        logitMean = try r.double("logit_mean", default: logitMean)
        logitStd = try r.double("logit_std", default: logitStd, in: 1e-6...100)
        guidance = try r.double("guidance", default: guidance)
        try r.finish(allowed: Self.keys.map(\.name))
    }
}

/// `[sync]`: how gradients travel between trainers.
public struct SyncSection: Sendable, Equatable {
    public var strategy: SyncStrategy = .overlap
    public var bucketMiB = 2.0

    public init() {}

    public static let keys: [ConfigKeySpec] = [
        ConfigKeySpec(key: "sync.strategy", type: "string", defaultValue: "\"overlap\"", allowed: "\"overlap\" | \"after_backward\" | \"single\"",
                      summary: "overlap: each bucket's non-blocking allreduce starts as soon as its gradients are final, during the last backward; after_backward: the same buckets after it; single: one allreduce of everything."),
        ConfigKeySpec(key: "sync.bucket_mib", type: "float", defaultValue: "2", allowed: "0.001 ... 1024",
                      summary: "Bucket size in MiB; 2 MiB is where `uso bench allreduce` peaks on these machines (12 GB/s busbw at 2 ranks)."),
    ]

    init(_ r: ConfigTableReader) throws(ConfigError) {
        strategy = try r.choice("strategy", default: strategy)
        bucketMiB = try r.double("bucket_mib", default: bucketMiB, in: 0.001...1024)
        try r.finish(allowed: Self.keys.map(\.name))
    }
}

/// `[csd]`: the CSD style model's training.
public struct CSDSection: Sendable, Equatable {
    public var temperature = 0.1

    public init() {}

    public static let keys: [ConfigKeySpec] = [
        ConfigKeySpec(key: "csd.temperature", type: "float", defaultValue: "0.1", allowed: "> 0",
                      summary: "Temperature of the supervised-contrastive loss over style labels (CSD: 0.1)."),
    ]

    init(_ r: ConfigTableReader) throws(ConfigError) {
        temperature = try r.double("temperature", default: temperature, in: 1e-4...100)
        try r.finish(allowed: Self.keys.map(\.name))
    }
}

/// `[reward]`: the Auxiliary Style Reward.
public struct RewardSection: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable { case off, colocated, dedicated }
    public enum Omega: String, Sendable, CaseIterable {
        case oneMinus = "one_minus"
        case hinge
    }

    public var mode: Mode = .off
    public var csdWeights = ""
    public var startStep = 0
    public var weight = 1.0
    public var omega: Omega = .oneMinus
    public var tau = 0.5
    public var deadlineMs = 5000.0

    public init() {}

    public static let keys: [ConfigKeySpec] = [
        ConfigKeySpec(key: "reward.mode", type: "string", defaultValue: "\"off\"", allowed: "\"off\" | \"colocated\" | \"dedicated\"",
                      summary: "The style reward of stage uso: off; colocated (each trainer runs the CSD model itself); dedicated (cluster.reward_ranks ranks host it and answer requests)."),
        ConfigKeySpec(key: "reward.csd_weights", type: "string", defaultValue: "\"\"", allowed: "a weights folder holding csd.safetensors",
                      summary: "The CSD style model to score with (stage csd's weights/)."),
        ConfigKeySpec(key: "reward.start_step", type: "integer", defaultValue: "0", allowed: "0 ...",
                      summary: "The step S from which the reward's weight lambda applies (lambda = 0 before S, as USO warms up with flow matching alone)."),
        ConfigKeySpec(key: "reward.weight", type: "float", defaultValue: "1", allowed: ">= 0", summary: "lambda after start_step (USO: 1)."),
        ConfigKeySpec(key: "reward.omega", type: "string", defaultValue: "\"one_minus\"", allowed: "\"one_minus\" | \"hinge\"",
                      summary: "How a reward r becomes a loss: 1 - r, or max(0, tau - r)."),
        ConfigKeySpec(key: "reward.tau", type: "float", defaultValue: "0.5", allowed: "-1 ... 1", summary: "The hinge's target reward."),
        ConfigKeySpec(key: "reward.deadline_ms", type: "float", defaultValue: "5000", allowed: "1 ...",
                      summary: "How long a trainer waits for a reply; a late reply is counted, dropped when it comes, and that sample goes on without the reward."),
    ]

    init(_ r: ConfigTableReader) throws(ConfigError) {
        mode = try r.choice("mode", default: mode)
        csdWeights = try r.string("csd_weights", default: csdWeights)
        startStep = try r.int("start_step", default: startStep, in: 0...Int(Int32.max))
        weight = try r.double("weight", default: weight, in: 0...1e6)
        omega = try r.choice("omega", default: omega)
        tau = try r.double("tau", default: tau, in: -1...1)
        deadlineMs = try r.double("deadline_ms", default: deadlineMs, in: 1...1e9)
        try r.finish(allowed: Self.keys.map(\.name))
    }
}
