import Comm
import Foundation

/// Where a trainer's reward requests go and its replies come from: the reward ranks of its
/// own MPI job (`MPIRewardTransport`), or reward services outside it over TCP
/// (`SocketRewardTransport`), which can be lost without taking the job down. Servers are
/// numbered 0..<serverCount; a lost one stays lost.
public protocol RewardTransport: AnyObject {
    /// How many servers there are (lost ones included).
    var serverCount: Int { get }
    /// A server's name for messages: "reward rank 3 (world rank)", "reward service 10.99.0.3:7311".
    func name(of server: Int) -> String
    /// The peer number the flight recorder shows for a server (a world rank, or -1 - index).
    func peer(of server: Int) -> Int32
    /// Whether the server is known to be gone.
    func isLost(_ server: Int) -> Bool
    /// Sends one request; false when the server is (now) lost and the request went nowhere.
    func send(_ bytes: [UInt8], to server: Int) throws -> Bool
    /// One waiting reply, or nil when none is waiting. Never blocks for long.
    func receive() throws -> (server: Int, bytes: [UInt8])?
    /// Servers lost since the last call, each with why (reported once by the client).
    func takeNewlyLost() -> [(server: Int, reason: String)]
    /// Tells every live server this trainer is done.
    func sendStops() throws
    /// Waits (at most `timeout` seconds) for sends still in flight.
    func flush(timeout: Double)
}

/// Reward ranks in the trainers' own MPI job: requests and replies are world messages
/// (`RewardProtocol`'s tags). Open MPI ends the whole job when one of its processes dies, so
/// these servers are never "lost": a dead reward rank ends the job.
public final class MPIRewardTransport: RewardTransport {
    public let world: Communicator
    public let rewardRanks: [Int]
    private var sends: [Request] = []

    public init(world: Communicator, rewardRanks: [Int]) {
        self.world = world
        self.rewardRanks = rewardRanks
    }

    public var serverCount: Int { rewardRanks.count }
    public func name(of server: Int) -> String { "rank \(rewardRanks[server])" }
    public func peer(of server: Int) -> Int32 { Int32(rewardRanks[server]) }
    public func isLost(_ server: Int) -> Bool { false }
    public func takeNewlyLost() -> [(server: Int, reason: String)] { [] }

    public func send(_ bytes: [UInt8], to server: Int) throws -> Bool {
        sends.append(try world.isend(bytes, to: rewardRanks[server], tag: RewardProtocol.requestTag))
        sends.removeAll { (try? $0.test()) == true }
        return true
    }

    public func receive() throws -> (server: Int, bytes: [UInt8])? {
        guard let status = try world.probe(UInt8.self, from: .any, tag: .value(RewardProtocol.replyTag)) else { return nil }
        let m = try world.receive(UInt8.self, from: .rank(status.source!), tag: .value(RewardProtocol.replyTag))
        guard let k = rewardRanks.firstIndex(of: m.source) else {
            throw RewardError("rank \(m.source), not a reward rank, sent a reward reply")
        }
        return (k, m.values)
    }

    public func sendStops() throws {
        for r in rewardRanks { sends.append(try world.isend([UInt8](), to: r, tag: RewardProtocol.stopTag)) }
    }

    public func flush(timeout: Double) {
        let start = DispatchTime.now().uptimeNanoseconds
        for s in sends {
            let left = timeout - Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            guard (try? s.wait(timeout: max(0.05, left))) != nil else { break }
        }
        sends.removeAll()
    }
}
