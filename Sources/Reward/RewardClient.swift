import Comm
import FlightRecorder
import Foundation

/// What a trainer's reward client did.
public struct RewardClientStats: Sendable, Codable {
    public var sent = 0
    public var answered = 0
    /// Requests whose reply missed its deadline, or whose server was lost (the sample went on
    /// without ASR): every rewarded sample that got no reward.
    public var missed = 0
    /// Of `missed`: the requests a lost reward service never answered (or that found no live
    /// service to go to).
    public var lost = 0
    /// Late replies that arrived after their deadline and were dropped.
    public var lateDropped = 0
    public var waitSeconds = 0.0
}

/// A trainer's side of the reward service: sends requests without blocking, rotating over
/// the servers by (trainer, micro-batch, step), and waits for a given request's reply until
/// its deadline. Replies are matched by request id: one for another request is kept for
/// later, a late one (its request already given up) is dropped and counted, never applied
/// to another sample. A server the transport reports lost is reported once on stderr; its
/// requests count as missed (and lost), later ones go to the servers left, and with none
/// left every rewarded sample trains without the reward, unless `required`, when the loss
/// ends the job.
public final class RewardClient {
    public let transport: RewardTransport
    public let trainer: Int
    public let deadline: Double
    /// reward.required: a lost server is an error, not a degradation.
    public let required: Bool
    public private(set) var stats = RewardClientStats()
    /// One line per lost server, as printed.
    public private(set) var lossReports: [String] = []
    private var counter: Int64 = 0
    private var step: Int64 = 0
    private var early: [Int64: RewardReply] = [:]
    private var expired = Set<Int64>()
    /// Requests sent and not yet answered, with the server each went to.
    private var outstanding: [Int64: Int] = [:]

    public init(transport: RewardTransport, trainer: Int, deadline: Double, required: Bool = false) {
        precondition(transport.serverCount > 0, "a reward client needs reward servers")
        self.transport = transport
        self.trainer = trainer
        self.deadline = deadline
        self.required = required
    }

    /// Reward ranks of the trainers' own MPI job.
    public convenience init(world: Communicator, rewardRanks: [Int], trainer: Int, deadline: Double) {
        precondition(!rewardRanks.isEmpty, "a reward client needs reward ranks")
        self.init(transport: MPIRewardTransport(world: world, rewardRanks: rewardRanks), trainer: trainer, deadline: deadline)
    }

    /// The server that serves (trainer, micro-batch, step): a fixed rotation, so each server
    /// receives an even stream; past a lost one, the next live one. Nil when none is live.
    public func server(forMicroBatch micro: Int, step: Int) -> Int? {
        let n = transport.serverCount
        let first = (trainer + micro + step) % n
        return (0..<n).lazy.map { (first + $0) % n }.first { !self.transport.isLost($0) }
    }

    /// Sends a request (its id is assigned here) and returns the id; nil when no server is
    /// left (the sample trains without the reward, counted as missed and lost).
    @discardableResult
    public func submit(_ request: RewardRequest) throws -> Int64? {
        var r = request
        counter += 1
        step = r.step
        try noteLosses()   // one lost before (at connection, or in between) is reported now
        r.requestID = Int64(trainer) << 40 | counter
        stats.sent += 1
        let bytes = r.encoded()
        while let target = server(forMicroBatch: Int(r.microBatch), step: Int(r.step)) {
            let t0 = FlightRecorder.now()
            let delivered = try transport.send(bytes, to: target)
            try noteLosses()
            if delivered {
                FlightRecorder.shared.record(.rewardSend, .reward, since: t0, sequence: counter, bytes: Int64(bytes.count),
                                             peer: transport.peer(of: target))
                outstanding[r.requestID] = target
                return r.requestID
            }
        }
        stats.missed += 1
        stats.lost += 1
        return nil
    }

    /// The reply to request `id`, or nil when it misses the deadline or its server is lost
    /// (then counted as missed, and its reply dropped whenever it comes).
    public func reply(to id: Int64) throws -> RewardReply? {
        let start = DispatchTime.now().uptimeNanoseconds
        // The wait for the reply, on the reward stream (the stall inspector watches it too).
        let span = FlightRecorder.shared.begin(.rewardReceive, .reward, sequence: id & 0xff_ffff_ffff,
                                               peer: outstanding[id].map { transport.peer(of: $0) } ?? -1)
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
            if let server = outstanding[id], transport.isLost(server) {
                outstanding[id] = nil
                stats.missed += 1
                stats.lost += 1
                return nil
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
        defer { try? noteLosses() }
        while let (server, bytes) = try transport.receive() {
            let reply = try RewardReply.decode(bytes)
            guard outstanding.removeValue(forKey: reply.requestID) != nil else {
                throw RewardError("\(transport.name(of: server)) answered request \(reply.requestID), which this trainer never sent or already had")
            }
            if expired.remove(reply.requestID) != nil {
                stats.lateDropped += 1
                continue
            }
            return reply
        }
        try noteLosses()
        return nil
    }

    /// Reports each newly lost server once; with `required`, ends the job instead.
    private func noteLosses() throws {
        for (server, reason) in transport.takeNewlyLost() {
            let owed = outstanding.values.filter { $0 == server }.count
            let live = (0..<transport.serverCount).filter { !transport.isLost($0) }.count
            let name = transport.name(of: server)
            if required {
                throw RewardError("trainer \(trainer): the \(name) is lost at step \(step) (\(reason)) and reward.required = true: "
                                  + "ending the job (the latest complete checkpoint resumes it)")
            }
            let rest = live > 0 ? "its requests go to the \(live) server(s) left"
                : "no reward server is left: every later sample trains without the style reward"
            let line = "uso train: trainer \(trainer): the \(name) is lost at step \(step) (\(reason)); training goes on: "
                + "\(owed) outstanding request(s) lost, \(rest) (reported once; set reward.required = true to end the job instead)"
            lossReports.append(line)
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    /// Ends the conversation: tells every server this trainer is done, then collects (and
    /// drops) the replies still owed, so no message is left in flight, for at most `drain`
    /// seconds. Returns the replies still owed then, by server name (empty: none; a server
    /// that is stopped or gone owes them for good, and its requests are left).
    public func finish(drain: Double) throws -> [String: Int] {
        try transport.sendStops()
        let start = DispatchTime.now().uptimeNanoseconds, limit = UInt64(drain * 1e9)
        let span = FlightRecorder.shared.begin(.rewardReceive, .reward, sequence: -1,
                                               peer: outstanding.values.first.map { transport.peer(of: $0) } ?? -1)
        FlightRecorder.shared.beginWaiting(span)
        defer { FlightRecorder.shared.end(span); FlightRecorder.shared.endWaiting() }
        while !outstanding.isEmpty && DispatchTime.now().uptimeNanoseconds - start < limit {
            if let r = try takeOne() { early[r.requestID] = r; continue }
            // Requests of a lost server are never answered: stop waiting for them.
            outstanding = outstanding.filter { !transport.isLost($0.value) }
            usleep(100)
        }
        transport.flush(timeout: max(0.05, drain - Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9))
        return outstanding.values.reduce(into: [:]) { $0[transport.name(of: $1), default: 0] += 1 }
    }
}
