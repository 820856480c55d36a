import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a reward service did.
public struct RewardServiceStats: Sendable, Codable {
    public var requests = 0
    public var busySeconds = 0.0
    public var wallSeconds = 0.0
    /// Trainers that said hello, that stopped, and that went away without stopping.
    public var trainersSeen = 0
    public var trainersStopped = 0
    public var trainersGone = 0
    public var busyFraction: Double { wallSeconds > 0 ? busySeconds / wallSeconds : 0 }
}

/// A reward server outside the trainers' MPI job (`uso reward serve`): listens on TCP,
/// answers every connected trainer's requests with r and dr/dimage in arrival order, and
/// ends once every trainer of the job (the count each one's hello gives) has stopped or
/// gone away. One thread, poll() over the connections.
public final class RewardService {
    public let reward: StyleReward
    public let listener: Int32
    public let port: UInt16
    let sendTimeout: Double
    public private(set) var stats = RewardServiceStats()

    /// Binds `listen` ("host:port"; port 0 picks a free one, see `port`).
    public init(reward: StyleReward, listen: String, sendTimeout: Double = 10) throws {
        self.reward = reward
        (listener, port) = try FrameSocket.listen(listen)
        self.sendTimeout = sendTimeout
    }

    deinit { close(listener) }

    private final class Client {
        let socket: FrameSocket
        var trainer: Int?
        var stopped = false
        init(_ s: FrameSocket) { socket = s }
    }

    /// Serves until every trainer is done; `log` gets one line per event (connections, stops,
    /// trainers gone), without the "uso reward serve: " prefix.
    public func serve(log: (String) -> Void) throws -> RewardServiceStats {
        let start = DispatchTime.now().uptimeNanoseconds
        var clients: [Client] = []
        var expected: Int? = nil
        var done = Set<Int>()
        let gradient = UnsafeMutablePointer<Float>.allocate(capacity: reward.imageCount)
        defer { gradient.deallocate() }
        func drop(_ c: Client, _ reason: String) {
            c.socket.close()
            clients.removeAll { $0 === c }
            guard let t = c.trainer, !c.stopped else { return }
            done.insert(t)
            stats.trainersGone += 1
            log("trainer \(t) (\(c.socket.peerName)) went away without stopping: \(reason)")
        }
        while expected == nil || done.count < expected! || !clients.isEmpty {
            let polled = clients   // fds[k + 1] is polled[k]'s
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
                + polled.map { pollfd(fd: $0.socket.fd, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), 500)
            if ready < 0 && errno != EINTR { throw RewardError("poll: \(String(cString: strerror(errno)))") }
            if ready <= 0 { continue }
            if fds[0].revents & Int16(POLLIN) != 0, let s = FrameSocket.accept(listener, sendTimeout: sendTimeout) {
                clients.append(Client(s))
            }
            for (i, c) in polled.enumerated() where fds[i + 1].revents != 0 {
                do {
                    try c.socket.receiveAvailable()
                } catch {
                    // Frames already received are served first; the end shows on the next pass.
                    if (try? serveFrames(c, gradient: gradient, expected: &expected, done: &done, log: log)) == nil || !c.stopped {
                        drop(c, "\(error)")
                    } else {
                        c.socket.close(); clients.removeAll { $0 === c }
                    }
                    continue
                }
                do {
                    try serveFrames(c, gradient: gradient, expected: &expected, done: &done, log: log)
                    if c.stopped { c.socket.close(); clients.removeAll { $0 === c } }
                } catch {
                    drop(c, "\(error)")
                }
            }
        }
        stats.wallSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        return stats
    }

    private func serveFrames(_ c: Client, gradient: UnsafeMutablePointer<Float>, expected: inout Int?, done: inout Set<Int>,
                             log: (String) -> Void) throws {
        while let frame = try c.socket.nextFrame() {
            switch frame.kind {
            case .hello:
                guard frame.payload.count == 8 else { throw RewardError("a hello of \(frame.payload.count) bytes") }
                let trainer = Int(Int32(littleEndian: frame.payload.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }))
                let count = Int(Int32(littleEndian: frame.payload.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: Int32.self) }))
                if let e = expected, e != count {
                    throw RewardError("trainer \(trainer) belongs to a job of \(count) trainers; this service serves a job of \(e)")
                }
                expected = count
                c.trainer = trainer
                stats.trainersSeen += 1
                log("trainer \(trainer) of \(count) connected from \(c.socket.peerName)")
            case .request:
                let reply = try reward.answer(try RewardRequest.decode(frame.payload), from: "trainer \(c.trainer.map(String.init) ?? "?")",
                                              gradient: gradient)
                try c.socket.send(.reply, reply.encoded())
                stats.requests += 1
                stats.busySeconds += reply.serviceSeconds
            case .stop:
                c.stopped = true
                if let t = c.trainer { done.insert(t); stats.trainersStopped += 1; log("trainer \(t) stopped") }
                return
            case .reply:
                throw RewardError("a trainer sent a reply")
            }
        }
    }
}
