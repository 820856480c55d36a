import Config
import Foundation
import SafeTensors
import TensorCore
import TripletData
import USOModel

/// One checkpoint, `RUN/checkpoints/step_N/`:
///
/// - `trainable.safetensors`: every trainable tensor, whole (FLUX/USO key names);
/// - `optimizer.safetensors`: AdamW's moments `m.<name>`, `v.<name>`, whole; or, with
///   ZeRO-1 (`optim.shard_state`), `optimizer.trainer_RR.safetensors` per trainer, holding
///   the pieces of the moments in its slice of the flat vector (see `CheckpointPart`);
/// - `state.json` (`CheckpointState`): step, data cursor, seed, AdamW's step, the schedule's
///   planned length and the rate of the next step, the reward's state, the stage and preset,
///   the world layout, the config file's text and every `--set` override;
/// - `metadata.json` (`CheckpointMetadata`): every tensor's file, shape, element range per
///   shard and the CRC-32 of its bytes;
/// - `DONE`, written last by the coordinator once every trainer has synced its files and
///   passed a barrier.
public enum Checkpoint {
    public static let trainableFile = "trainable.safetensors"
    public static let optimizerFile = "optimizer.safetensors"
    public static let stateFile = "state.json"
    public static let metadataFile = "metadata.json"
}

/// What a checkpoint knows of the run besides its tensors.
public struct CheckpointState: Codable, Sendable, Equatable {
    public static let formatName = "uso-checkpoint"
    public var format = CheckpointState.formatName
    public var formatVersion = 1
    /// Steps completed: training resumes at this step.
    public var step: Int
    public var cursor: DataCursor
    public var seed: Int
    public var adamStep: Int
    /// The learning-rate schedule's planned length and the rate the next step takes.
    public var scheduleSteps: Int
    public var nextLR: Double
    /// The style reward: its mode, the step its weight starts at, and the weight now.
    public var rewardMode: String
    public var rewardStartStep: Int
    public var rewardWeightNow: Double
    public var stage: String
    public var preset: String
    /// The world that wrote it: trainers, reward ranks, world size, placement.
    public var trainers: Int
    public var rewardRanks: Int
    public var worldSize: Int
    public var placement: String
    /// The config file's text and the `--set` overrides given when the run started.
    public var configText: String
    public var overrides: [String]
    /// How many trainers' shards hold AdamW's moments (1 or absent: one whole file).
    public var optimizerShards: Int? = nil
    /// The training set's manifest and the CRC-32 of its bytes (which name every shard's checksum).
    public var dataManifest: String? = nil
    public var dataChecksum: String? = nil

    public init(step: Int, cursor: DataCursor, seed: Int, adamStep: Int, scheduleSteps: Int, nextLR: Double, rewardMode: String,
                rewardStartStep: Int, rewardWeightNow: Double, stage: String, preset: String, trainers: Int, rewardRanks: Int,
                worldSize: Int, placement: String, configText: String, overrides: [String], optimizerShards: Int? = nil) {
        self.step = step; self.cursor = cursor; self.seed = seed; self.adamStep = adamStep; self.scheduleSteps = scheduleSteps
        self.nextLR = nextLR; self.rewardMode = rewardMode; self.rewardStartStep = rewardStartStep; self.rewardWeightNow = rewardWeightNow
        self.stage = stage; self.preset = preset; self.trainers = trainers; self.rewardRanks = rewardRanks; self.worldSize = worldSize
        self.placement = placement; self.configText = configText; self.overrides = overrides; self.optimizerShards = optimizerShards
    }

    enum CodingKeys: String, CodingKey {
        case format, step, cursor, seed, stage, preset, trainers, placement, overrides
        case formatVersion = "format_version"
        case adamStep = "adam_step"
        case scheduleSteps = "schedule_steps"
        case nextLR = "next_lr"
        case rewardMode = "reward_mode"
        case rewardStartStep = "reward_start_step"
        case rewardWeightNow = "reward_weight_now"
        case rewardRanks = "reward_ranks"
        case worldSize = "world_size"
        case configText = "config_text"
        case optimizerShards = "optimizer_shards"
        case dataManifest = "data_manifest"
        case dataChecksum = "data_checksum"
    }
}

/// Every tensor of a checkpoint: where it is, its shape, and each shard's element range and checksum.
public struct CheckpointMetadata: Codable, Sendable, Equatable {
    public struct Shard: Codable, Sendable, Equatable {
        /// The trainer that wrote it, and its elements `[lower, upper)` of the flat tensor.
        public var trainer: Int
        public var lower: Int
        public var upper: Int
        /// CRC-32 (zlib's) of the shard's float32 little-endian bytes, 8 hex digits.
        public var crc32: String
        /// The file holding the shard (as a 1-D tensor of the entry's name), when it is not
        /// the entry's own file holding the whole tensor.
        public var file: String? = nil
    }

    public struct Entry: Codable, Sendable, Equatable {
        public var name: String
        public var file: String
        public var shape: [Int]
        public var dtype = "F32"
        public var shards: [Shard]
    }

    public var tensors: [Entry]
}

/// The CRC-32 of float32 values, as the metadata records it.
func checksum(_ values: UnsafeBufferPointer<Float>) -> String {
    var c = CRC32()
    c.update(values)
    return c.hex
}
