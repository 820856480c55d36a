import Comm
import Foundation

/// What a trainer's reward client did.
public struct RewardClientStats: Sendable, Codable {
    public var sent = 0
    public var answered = 0
    /// Requests whose reply missed its deadline (the sample went on without ASR).
    public var missed = 0
    /// Late replies that arrived after their deadline and were dropped.
    public var lateDropped = 0
    public var waitSeconds = 0.0
}

/// A trainer's side of the reward service: sends requests without blocking, rotating over
/// the reward ranks by (trainer, micro-batch, step), and waits for a given request's reply
/// until its deadline. Replies are matched by request id: one for another request is kept
/// for later, a late one (its request already given up) is dropped and counted, never
/// applied to another sample.
public final class RewardClient {
    public let world: Communicator
    public let rewardRanks: [Int]
    public let trainer: Int
    public let deadline: Double
    public private(set) var stats = RewardClientStats()
    private var counter: Int64 = 0
    private var sends: [Request] = []
    private var early: [Int64: RewardReply] = [:]
    private var expired = Set<Int64>()
    private var outstanding = Set<Int64>()

    public init(world: Communicator, rewardRanks: [Int], trainer: Int, deadline: Double) {
        precondition(!rewardRanks.isEmpty, "a reward client needs reward ranks")
        self.world = world
        self.rewardRanks = rewardRanks
        self.trainer = trainer
        self.deadline = deadline
    }

    /// The reward rank that serves (trainer, micro-batch, step): a fixed rotation, so each
    /// rank receives an even stream.
    public func rank(forMicroBatch micro: Int, step: Int) -> Int {
        rewardRanks[(trainer + micro + step) % rewardRanks.count]
    }

    /// Sends a request (its id is assigned here) and returns the id.
    @discardableResult
    public func submit(_ request: RewardRequest) throws -> Int64 {
        var r = request
        counter += 1
        r.requestID = Int64(trainer) << 40 | counter
        let target = rank(forMicroBatch: Int(r.microBatch), step: Int(r.step))
        sends.append(try world.isend(r.encoded(), to: target, tag: RewardProtocol.requestTag))
        sends.removeAll { (try? $0.test()) == true }
        outstanding.insert(r.requestID)
        stats.sent += 1
        return r.requestID
    }

    /// The reply to request `id`, or nil when it misses the deadline (then counted as missed,
    /// and its reply dropped whenever it comes).
    public func reply(to id: Int64) throws -> RewardReply? {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { stats.waitSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 }
        if let r = early.removeValue(forKey: id) {
            stats.answered += 1
            return r
        }
        let limit = UInt64(deadline * 1e9)
        var spins = 0
        while DispatchTime.now().uptimeNanoseconds - start < limit {
            if let r = try takeOne() {
                if r.requestID == id {
                    stats.answered += 1
                    return r
                }
                early[r.requestID] = r
                continue
            }
            spins += 1
            if spins > 2000 { usleep(100) } else { sched_yield() }
        }
        expired.insert(id)
        stats.missed += 1
        return nil
    }

    /// Receives one waiting reply, dropping late ones; nil when none is waiting.
    private func takeOne() throws -> RewardReply? {
        while let status = try world.probe(UInt8.self, from: .any, tag: .value(RewardProtocol.replyTag)) {
            let m = try world.receive(UInt8.self, from: .rank(status.source!), tag: .value(RewardProtocol.replyTag))
            let reply = try RewardReply.decode(m.values)
            guard outstanding.remove(reply.requestID) != nil else {
                throw RewardError("rank \(m.source) answered request \(reply.requestID), which this trainer never sent or already had")
            }
            if expired.remove(reply.requestID) != nil {
                stats.lateDropped += 1
                continue
            }
            return reply
        }
        return nil
    }

    /// Ends the conversation: tells every reward rank this trainer is done, then collects
    /// (and drops) the replies still owed, so no message is left in flight.
    public func finish() throws {
        for r in rewardRanks { sends.append(try world.isend([UInt8](), to: r, tag: RewardProtocol.stopTag)) }
        while !outstanding.isEmpty {
            if let r = try takeOne() { early[r.requestID] = r } else { usleep(100) }
        }
        try Request.waitAll(sends)
        sends.removeAll()
    }
}
