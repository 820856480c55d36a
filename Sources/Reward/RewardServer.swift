import Comm
import FlightRecorder
import Foundation

/// What a reward rank did.
public struct RewardServerStats: Sendable, Codable {
    public var requests = 0
    public var busySeconds = 0.0
    public var wallSeconds = 0.0
    public var cacheHits = 0
    public var busyFraction: Double { wallSeconds > 0 ? busySeconds / wallSeconds : 0 }
}

/// A reward rank's service loop: takes requests from any trainer in arrival order, answers
/// each with r and dr/dimage, and ends when every trainer has sent its stop.
public final class RewardServer {
    public let world: Communicator
    public let trainers: Int
    public let reward: StyleReward
    /// Uniform random extra delay per request, in seconds (stress tests: replies arriving late and out of turn).
    public let injectedDelay: ClosedRange<Double>?
    public private(set) var stats = RewardServerStats()

    public init(world: Communicator, trainers: Int, reward: StyleReward, injectedDelay: ClosedRange<Double>? = nil) {
        self.world = world
        self.trainers = trainers
        self.reward = reward
        self.injectedDelay = injectedDelay
    }

    public func serve() throws -> RewardServerStats {
        let start = DispatchTime.now().uptimeNanoseconds
        var stopped = 0
        var idle = 0
        var replies: [Request] = []
        var delayRNG = SystemRandomNumberGenerator()
        let gradient = UnsafeMutablePointer<Float>.allocate(capacity: reward.imageCount)
        defer { gradient.deallocate() }
        while stopped < trainers {
            guard let status = try world.probe(UInt8.self, from: .any, tag: .any) else {
                // Idle: spin briefly for latency, then sleep a little so an oversubscribed core is shared.
                idle += 1
                if idle > 2000 { usleep(200) } else { sched_yield() }
                replies.removeAll { (try? $0.test()) == true }
                continue
            }
            idle = 0
            let message = try world.receive(UInt8.self, from: .rank(status.source!), tag: .value(status.tag!))
            switch message.tag {
            case RewardProtocol.stopTag:
                stopped += 1
            case RewardProtocol.requestTag:
                let t0 = DispatchTime.now().uptimeNanoseconds
                let request = try RewardRequest.decode(message.values)
                var reply = try reward.answer(request, from: "rank \(message.source)", gradient: gradient)
                if let injectedDelay { usleep(UInt32(Double.random(in: injectedDelay, using: &delayRNG) * 1e6)) }
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
                reply.serviceSeconds = seconds
                replies.append(try world.isend(reply.encoded(), to: message.source, tag: RewardProtocol.replyTag))
                stats.requests += 1
                stats.busySeconds += seconds
                FlightRecorder.shared.currentStep = Int32(truncatingIfNeeded: request.step)
                FlightRecorder.shared.record(.rewardServe, .reward, since: t0, sequence: request.requestID & 0xff_ffff_ffff,
                                             bytes: Int64(message.values.count), peer: Int32(message.source))
            default:
                throw RewardError("rank \(message.source) sent tag \(message.tag) to a reward rank")
            }
        }
        try Request.waitAll(replies)
        stats.wallSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        stats.cacheHits = reward.cacheHits
        return stats
    }
}
