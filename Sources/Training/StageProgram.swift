import Foundation
import TensorCore
import TripletData
import USOModel

/// Time spent in a step's parts on one trainer.
public struct StepTimes: Sendable, Codable {
    public var dataWait = 0.0
    public var forward = 0.0
    public var backward = 0.0
    public var syncWait = 0.0
    public var optimizer = 0.0
    /// Time spent waiting for (or computing, when colocated) style rewards and their backward through the decoder.
    public var rewardWait = 0.0
}

/// What one sample (or micro-batch) contributed to the step.
public struct SampleLoss: Sendable {
    public let loss: Double
    public let task: String
    /// The style reward applied to the sample, if any.
    public let reward: Double?
    /// The sample's id (-1 where a loss is the batch's, not one sample's).
    public let sampleID: Int64

    public init(loss: Double, task: String, reward: Double? = nil, sampleID: Int64 = -1) {
        self.loss = loss
        self.task = task
        self.reward = reward
        self.sampleID = sampleID
    }
}

/// One training stage: which parameters it trains, and the forward and backward of a
/// micro-batch with gradients accumulated (scaled by 1 / global batch, so the trainers'
/// summed gradients are the mean over the global batch).
public protocol StageProgram: AnyObject {
    var name: String { get }
    /// Every parameter of the stage's model(s), for saving and loading.
    var registries: [ParameterRegistry] { get }
    var store: ParameterStore { get }
    /// The backward milestone at which a parameter's gradient is final (0 for all when the
    /// stage does not report milestones).
    func milestone(of p: Parameter) -> Int
    /// Runs a micro-batch; `milestone` is given for the step's last micro-batch and must be
    /// called as gradients become final during its last backward.
    func run(_ samples: ArraySlice<LoadedSample>, epoch: Int, globalBatch: Int, milestone: ((Int) throws -> Void)?,
             times: inout StepTimes) throws -> [SampleLoss]
    /// Called on every trainer before a step's micro-batches, with all of this trainer's
    /// samples of the step (none, when the epoch's last batch leaves it without), for losses
    /// over the whole global batch that need every trainer's part first; collective when the
    /// program talks to the other trainers. `micro` is `data.micro_batch` (0: one micro-batch).
    func prepareStep(_ samples: ArraySlice<LoadedSample>, globalBatch: Int, micro: Int, times: inout StepTimes) throws
}

extension StageProgram {
    /// Most stages' losses are per sample: nothing to prepare.
    public func prepareStep(_ samples: ArraySlice<LoadedSample>, globalBatch: Int, micro: Int, times: inout StepTimes) throws {}
}

@inline(__always) func seconds(since t: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t) * 1e-9 }
@inline(__always) func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
