import Config
import TripletData
import USOModel

/// What a stage is, in one place: the kind of set it trains on and its default folder, the
/// tasks its losses are reported under, the image size its data must have, whether triplet
/// conditions are dropped out, and how its program is built. `Trainer` reads these instead
/// of branching on the stage.
public struct StageDescriptor: Sendable {
    public let stage: Stage
    /// The set kind the stage trains on.
    public let dataKind: ShardKind
    /// `data/<defaultSet>` is data.path's default.
    public let defaultSet: String
    /// The task names of the stage's losses (metrics.jsonl's loss_by_task keys), in order.
    public let tasks: [String]
    /// Whether condition dropout (data.condition_dropout) applies to the stage's samples.
    public let dropsConditions: Bool

    public static func of(_ stage: Stage) -> StageDescriptor {
        switch stage {
        case .base:
            return StageDescriptor(stage: stage, dataKind: .pairs, defaultSet: "pairs", tasks: ["t2i"], dropsConditions: false)
        case .csd:
            return StageDescriptor(stage: stage, dataKind: .styles, defaultSet: "styles", tasks: ["supcon"], dropsConditions: false)
        case .uso:
            return StageDescriptor(stage: stage, dataKind: .triplets, defaultSet: "triplets",
                                   tasks: ["subject+style", "style", "subject", "text"], dropsConditions: true)
        case .autoencoder:
            return StageDescriptor(stage: stage, dataKind: .triplets, defaultSet: "triplets", tasks: ["reconstruction"], dropsConditions: false)
        }
    }

    /// The image side the stage's data must have at `model`: CSD's input size for csd, the
    /// autoencoder's for the others.
    public func imageSize(_ model: ModelConfig) -> Int { stage == .csd ? model.csd.imageSize : model.autoencoder.imageSize }
}

/// One step's losses, rewards and deadline misses on a trainer, summed over all trainers by
/// one allreduce (`flattened` and `init(flattened:)` are its wire layout).
struct StepTotals {
    var lossSum: [Double], lossCount: [Double]
    var rewardSum = 0.0, rewardCount = 0.0, misses = 0.0

    init(tasks: Int) {
        lossSum = [Double](repeating: 0, count: tasks)
        lossCount = [Double](repeating: 0, count: tasks)
    }

    /// Adds a sample's loss under its task (an unknown task is not counted) and its reward.
    mutating func add(_ l: SampleLoss, tasks: [String]) {
        if let k = tasks.firstIndex(of: l.task) { lossSum[k] += l.loss; lossCount[k] += 1 }
        if let r = l.reward { rewardSum += r; rewardCount += 1 }
    }

    var flattened: [Double] { lossSum + lossCount + [rewardSum, rewardCount, misses] }

    init(flattened v: [Double], tasks n: Int) {
        lossSum = Array(v[0..<n])
        lossCount = Array(v[n..<(2 * n)])
        rewardSum = v[2 * n]; rewardCount = v[2 * n + 1]; misses = v[2 * n + 2]
    }

    var totalLoss: Double { lossSum.reduce(0, +) }
    var samples: Int { Int(lossCount.reduce(0, +)) }
}

extension StepTimes {
    /// The order `maxOverTrainers` sends them in.
    var flattened: [Double] { [dataWait, forward, backward, syncWait, optimizer, rewardWait] }

    init(flattened v: [Double]) {
        self.init(dataWait: v[0], forward: v[1], backward: v[2], syncWait: v[3], optimizer: v[4], rewardWait: v[5])
    }
}
