import USOModel

/// What a run trains: one value per stage of USO's recipe, named as `run.stage` writes it.
/// The one type of the concept: the config, the trainer, its programs, the initial-weight
/// rules and the benchmarks all use it.
public enum Stage: String, Sendable, CaseIterable {
    /// The DiT's own weights, on text-to-image pairs.
    case base
    /// The CSD style model, on style-labelled images.
    case csd
    /// USO's LoRA and projector, on triplets (with the style reward when it is on).
    case uso
    /// The autoencoder, on triplet targets.
    case autoencoder

    /// The stages whose program is the diffusion transformer's flow-matching step.
    public var isDiffusion: Bool { self == .base || self == .uso }
}

/// How gradients travel between trainers (`sync.strategy`).
public enum SyncStrategy: String, Sendable, CaseIterable {
    /// Buckets allreduced as they fill during the last micro-batch's backward.
    case overlap
    /// One allreduce per bucket after the backward (no overlap).
    case afterBackward = "after_backward"
    /// One allreduce of all gradients after the backward.
    case single
}

/// The learning-rate schedule's shape after warmup (`optim.schedule`).
public enum LRSchedule: String, Sendable, CaseIterable {
    case constant
    /// Half a cosine from the peak to `optim.min_lr` over the run's planned steps.
    case cosine
}

extension ModelPreset {
    /// The presets this machine class trains (`run.preset`); flux-dev is for shapes,
    /// memory and communication planning (`uso model info`, `uso bench`), not training.
    public static let trainable: [ModelPreset] = [.tiny, .small]
}
