import Training
import Foundation
import ImageIO
import Reward
import TensorCore
import TripletData
import USOModel

/// `uso eval style`: how well generated images take their style references' style, by CSD
/// (the paper's style metric): generate subject+style images for held-out triplets and
/// score each against its style reference. Beside it, the same score for the triplets' own
/// targets against their references and against another triplet's reference, so the scale
/// of the CSD model in use is visible.
public struct StyleEvaluation {
    public struct Result: Codable, Sendable {
        public var count: Int
        public var mean: Double
        public var std: Double
        public var targetMatched: Double
        public var targetMismatched: Double
    }

    public let generation: Generation
    public let reward: StyleReward

    public init(generation: Generation, csd: CSDModel) {
        self.generation = generation
        reward = StyleReward(csd: csd, cacheLimit: 0)
    }

    func score(_ image: RGBImage, against reference: RGBImage) -> Double {
        let a = generation.tensor(image), b = generation.tensor(reference)
        return Double(reward.reward(image: a.data, styleImage: b.data, styleID: -1, gradient: nil))
    }

    public func run(manifestPath: String, count: Int, seed: UInt64, guidance: Float, folder: String?) throws -> Result {
        let requests = try Generation.requests(fromSet: manifestPath, mode: .subjectStyle, count: count, seed: seed)
        let images = try generation.run(requests, mode: .subjectStyle, guidance: guidance,
                                        folder: folder ?? NSTemporaryDirectory() + "uso-eval-\(getpid())")
        var scores: [Double] = [], matched: [Double] = [], mismatched: [Double] = []
        for (k, r) in requests.enumerated() {
            guard let style = r.styles.first else { continue }
            scores.append(score(images[k], against: style))
            if let target = r.target {
                matched.append(score(target, against: style))
                if let other = requests[(k + requests.count / 2 + 1) % requests.count].styles.first { mismatched.append(score(target, against: other)) }
            }
        }
        let mean = scores.reduce(0, +) / Double(max(scores.count, 1))
        let variance = scores.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(scores.count - 1, 1))
        func avg(_ v: [Double]) -> Double { v.reduce(0, +) / Double(max(v.count, 1)) }
        return Result(count: scores.count, mean: mean, std: variance.squareRoot(), targetMatched: avg(matched), targetMismatched: avg(mismatched))
    }
}
