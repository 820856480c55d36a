import Foundation

/// Reward services outside the trainers' MPI job (`uso reward serve`), one TCP connection
/// to each. Open MPI 4.1 ends a whole job when one of its processes dies, so a reward rank
/// inside the job cannot fail alone; a service reached over a socket can: its death (the
/// connection closed or reset), a cut link (keepalive and the user timeout: about 6 s) or a
/// send blocked past `sendTimeout` marks it lost, and the trainer goes on.
public final class SocketRewardTransport: RewardTransport {
    public let addresses: [String]
    private var sockets: [FrameSocket?]
    private var newlyLost: [(server: Int, reason: String)] = []
    private var next = 0

    /// Connects to every address (each for at most `connectTimeout` seconds) and says hello
    /// (this trainer's index and the trainer count, so a service knows when all are done).
    /// An address that cannot be reached is lost from the start.
    public init(addresses: [String], trainer: Int, trainers: Int, connectTimeout: Double, sendTimeout: Double) {
        precondition(!addresses.isEmpty, "a socket transport needs reward service addresses")
        self.addresses = addresses
        sockets = Array(repeating: nil, count: addresses.count)
        var hello = [UInt8]()
        withUnsafeBytes(of: Int32(trainer).littleEndian) { hello.append(contentsOf: $0) }
        withUnsafeBytes(of: Int32(trainers).littleEndian) { hello.append(contentsOf: $0) }
        for (k, address) in addresses.enumerated() {
            do {
                let s = try FrameSocket.connect(address, timeout: connectTimeout, sendTimeout: sendTimeout)
                try s.send(.hello, hello)
                sockets[k] = s
            } catch {
                newlyLost.append((k, "\(error)"))
            }
        }
    }

    public var serverCount: Int { addresses.count }
    public func name(of server: Int) -> String { "reward service \(addresses[server])" }
    public func peer(of server: Int) -> Int32 { -1 - Int32(server) }
    public func isLost(_ server: Int) -> Bool { sockets[server] == nil }

    public func takeNewlyLost() -> [(server: Int, reason: String)] {
        defer { newlyLost.removeAll() }
        return newlyLost
    }

    private func lose(_ server: Int, _ reason: String) {
        guard let s = sockets[server] else { return }
        s.close()
        sockets[server] = nil
        newlyLost.append((server, reason))
    }

    public func send(_ bytes: [UInt8], to server: Int) throws -> Bool {
        guard let s = sockets[server] else { return false }
        do {
            try s.send(.request, bytes)
            return true
        } catch {
            lose(server, "\(error)")
            return false
        }
    }

    /// Polls the live connections in turn (so none starves) for one whole reply frame.
    public func receive() throws -> (server: Int, bytes: [UInt8])? {
        let n = sockets.count
        for i in 0..<n {
            let k = (next + i) % n
            guard let s = sockets[k] else { continue }
            do {
                try s.receiveAvailable()
            } catch {
                // Replies already here still count; the loss shows once they are read.
                if let frame = try? s.nextFrame(), frame.kind == .reply { next = k + 1; return (k, frame.payload) }
                lose(k, "\(error)")
                continue
            }
            let frame: (kind: FrameSocket.Kind, payload: [UInt8])?
            do { frame = try s.nextFrame() } catch { lose(k, "\(error)"); continue }
            guard let frame else { continue }
            guard frame.kind == .reply else { lose(k, "it sent a frame of kind \(frame.kind), not a reply"); continue }
            next = k + 1
            return (k, frame.payload)
        }
        return nil
    }

    public func sendStops() throws {
        for k in 0..<sockets.count {
            guard let s = sockets[k] else { continue }
            do { try s.send(.stop, []) } catch { lose(k, "\(error)") }
        }
    }

    public func flush(timeout: Double) {}   // sends complete before they return
}
