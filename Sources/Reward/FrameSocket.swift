import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One TCP connection of the reward service, carrying frames: a 4-byte little-endian length
/// (of what follows), a kind byte, the payload. Sends block (bounded by `sendTimeout`);
/// receives never block (what has arrived is buffered and split into frames). Keepalive and
/// TCP_USER_TIMEOUT make a peer behind a cut link an error within seconds, not hours.
public final class FrameSocket {
    /// Frame kinds.
    public enum Kind: UInt8, Sendable {
        /// trainer -> service: (trainer index Int32, trainer count Int32).
        case hello = 1
        /// trainer -> service: a `RewardRequest`.
        case request = 2
        /// service -> trainer: a `RewardReply`.
        case reply = 3
        /// trainer -> service: this trainer is done.
        case stop = 4
    }

    public let fd: Int32
    /// "host:port" of the other end, for messages.
    public let peerName: String
    private var inbox: [UInt8] = []
    /// Scratch for recv, allocated once (the client polls its sockets while it waits).
    private var chunk = [UInt8](repeating: 0, count: 1 << 16)
    private var closed = false

    init(fd: Int32, peerName: String, sendTimeout: Double) {
        self.fd = fd
        self.peerName = peerName
        Self.configure(fd, sendTimeout: sendTimeout)
    }

    deinit { close() }

    public func close() {
        if !closed { closed = true; Glibc.close(fd) }
    }

    /// Low latency, keepalive after 3 s idle (1 s apart, 3 probes), unacknowledged data
    /// given up after 6 s, and sends bounded by `sendTimeout`.
    static func configure(_ fd: Int32, sendTimeout: Double) {
        func set(_ level: Int32, _ name: Int32, _ value: Int32) {
            var v = value
            _ = setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
        }
        set(Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        set(SOL_SOCKET, SO_KEEPALIVE, 1)
        set(Int32(IPPROTO_TCP), TCP_KEEPIDLE, 3)
        set(Int32(IPPROTO_TCP), TCP_KEEPINTVL, 1)
        set(Int32(IPPROTO_TCP), TCP_KEEPCNT, 3)
        set(Int32(IPPROTO_TCP), TCP_USER_TIMEOUT, 6000)
        var tv = timeval(tv_sec: Int(sendTimeout), tv_usec: Int((sendTimeout - Double(Int(sendTimeout))) * 1e6))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends one frame, all of it. Throws (naming the peer) when the connection is gone.
    public func send(_ kind: Kind, _ payload: [UInt8]) throws(RewardError) {
        var frame = [UInt8]()
        frame.reserveCapacity(5 + payload.count)
        withUnsafeBytes(of: UInt32(1 + payload.count).littleEndian) { frame.append(contentsOf: $0) }
        frame.append(kind.rawValue)
        frame.append(contentsOf: payload)
        var offset = 0
        while offset < frame.count {
            let n = frame.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, frame.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                let reason = errno == EAGAIN || errno == EWOULDBLOCK ? "a send blocked past its timeout" : String(cString: strerror(errno))
                throw RewardError(reason)
            }
            offset += n
        }
    }

    /// Reads what has arrived without blocking. Throws when the peer closed or the
    /// connection failed (reset, keepalive or user timeout).
    public func receiveAvailable() throws(RewardError) {
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 { inbox.append(contentsOf: chunk[0..<n]); continue }
            if n == 0 { throw RewardError("the connection was closed") }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return }
            throw RewardError(String(cString: strerror(errno)))
        }
    }

    /// The next whole frame received, or nil.
    public func nextFrame() throws(RewardError) -> (kind: Kind, payload: [UInt8])? {
        guard inbox.count >= 5 else { return nil }
        let length = Int(UInt32(inbox[0]) | UInt32(inbox[1]) << 8 | UInt32(inbox[2]) << 16 | UInt32(inbox[3]) << 24)
        guard length >= 1, length <= 1 << 30 else { throw RewardError("a frame of \(length) bytes: not the reward protocol") }
        guard inbox.count >= 4 + length else { return nil }
        guard let kind = Kind(rawValue: inbox[4]) else { throw RewardError("a frame of kind \(inbox[4]): not the reward protocol") }
        let payload = Array(inbox[5..<(4 + length)])
        inbox.removeFirst(4 + length)
        return (kind, payload)
    }

    // MARK: Addresses, listening, connecting

    /// Splits "host:port" (host may be empty for every address).
    public static func parse(_ address: String) throws(RewardError) -> (host: String, port: UInt16) {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw RewardError("\"\(address)\" is not host:port (for example 10.0.0.7:7311)")
        }
        return (String(address[..<colon]), port)
    }

    static func resolve(_ host: String, _ port: UInt16) throws(RewardError) -> sockaddr_in {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host.isEmpty ? "0.0.0.0" : host, String(port), &hints, &result)
        guard status == 0, let info = result else {
            throw RewardError("cannot resolve host \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(result) }
        return info.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee }
    }

    /// A listening socket on host:port (port 0: any free one); returns it and the port bound.
    public static func listen(_ address: String) throws(RewardError) -> (fd: Int32, port: UInt16) {
        let (host, port) = try parse(address)
        var addr = try resolve(host, port)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RewardError("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, Glibc.listen(fd, 64) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw RewardError("cannot listen on \(address): \(reason)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return (fd, UInt16(bigEndian: actual.sin_port))
    }

    /// Accepts one waiting connection on a listening socket, or nil.
    public static func accept(_ listener: Int32, sendTimeout: Double) -> FrameSocket? {
        var addr = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let fd = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(listener, $0, &length) } }
        guard fd >= 0 else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        inet_ntop(AF_INET, &addr.sin_addr, &text, socklen_t(INET_ADDRSTRLEN))
        return FrameSocket(fd: fd, peerName: "\(String(cString: text)):\(UInt16(bigEndian: addr.sin_port))", sendTimeout: sendTimeout)
    }

    /// Connects to host:port, retrying refused connections until `timeout` seconds have
    /// passed (the service may still be loading its model).
    public static func connect(_ address: String, timeout: Double, sendTimeout: Double) throws(RewardError) -> FrameSocket {
        let (host, port) = try parse(address)
        var addr = try resolve(host, port)
        let start = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 }
        var last = "no attempt"
        repeat {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw RewardError("socket: \(String(cString: strerror(errno)))") }
            // Non-blocking connect, so an unreachable host costs at most the time left.
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            var error: Int32 = r == 0 ? 0 : errno
            if error == EINPROGRESS {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let wait = Int32(max(1, min(1000, (timeout - elapsed()) * 1000)))
                if poll(&p, 1, wait) == 1 {
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                } else {
                    error = ETIMEDOUT
                }
            }
            if error == 0 {
                _ = fcntl(fd, F_SETFL, flags)
                return FrameSocket(fd: fd, peerName: address, sendTimeout: sendTimeout)
            }
            last = String(cString: strerror(error))
            Glibc.close(fd)
            if elapsed() < timeout { usleep(200_000) }
        } while elapsed() < timeout
        throw RewardError("cannot connect within \(String(format: "%g", timeout)) s: \(last)")
    }
}
