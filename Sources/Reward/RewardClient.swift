import Comm
import FlightRecorder
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
    /// Requests sent and not yet answered, with the reward rank each went to.
    private var outstanding: [Int64: Int] = [:]

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
        let t0 = FlightRecorder.now()
        let bytes = r.encoded()
        sends.append(try world.isend(bytes, to: target, tag: RewardProtocol.requestTag))
        FlightRecorder.shared.record(.rewardSend, .reward, since: t0, sequence: counter, bytes: Int64(bytes.count), peer: Int32(target))
        sends.removeAll { (try? $0.test()) == true }
        outstanding[r.requestID] = target
        stats.sent += 1
        return r.requestID
    }

    /// The reply to request `id`, or nil when it misses the deadline (then counted as missed,
    /// and its reply dropped whenever it comes).
    public func reply(to id: Int64) throws -> RewardReply? {
        let start = DispatchTime.now().uptimeNanoseconds
        // The wait for the reply, on the reward stream (the stall inspector watches it too).
        let span = FlightRecorder.shared.begin(.rewardReceive, .reward, sequence: id & 0xff_ffff_ffff, peer: Int32(outstanding[id] ?? -1))
        FlightRecorder.shared.beginWaiting(span)
        defer {
            FlightRecorder.shared.end(span)
            FlightRecorder.shared.endWaiting()
            stats.waitSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        }
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
            guard outstanding.removeValue(forKey: reply.requestID) != nil else {
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
    /// (and drops) the replies still owed, so no message is left in flight, for at most
    /// `drain` seconds. Returns the replies still owed then, by reward rank (empty: none; a
    /// reward rank that is stopped or gone owes them for good, and its requests are left).
    public func finish(drain: Double) throws -> [Int: Int] {
        for r in rewardRanks { sends.append(try world.isend([UInt8](), to: r, tag: RewardProtocol.stopTag)) }
        let start = DispatchTime.now().uptimeNanoseconds, limit = UInt64(drain * 1e9)
        let span = FlightRecorder.shared.begin(.rewardReceive, .reward, sequence: -1, peer: Int32(outstanding.values.first ?? -1))
        FlightRecorder.shared.beginWaiting(span)
        defer { FlightRecorder.shared.end(span); FlightRecorder.shared.endWaiting() }
        while !outstanding.isEmpty && DispatchTime.now().uptimeNanoseconds - start < limit {
            if let r = try takeOne() { early[r.requestID] = r } else { usleep(100) }
        }
        for s in sends {
            let left = Double(limit) * 1e-9 - Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            guard (try? s.wait(timeout: max(0.05, left))) != nil else { break }
        }
        sends.removeAll()
        return outstanding.values.reduce(into: [:]) { $0[$1, default: 0] += 1 }
    }
}
