/// The messages between trainers and reward ranks, on the world communicator.
///
/// A request carries its id (trainer << 40 | counter, unique in the job), the step and
/// micro-batch (for diagnostics), the style reference's id, the image side, and two images
/// (3, S, S) float: the decoded prediction and the style reference. A reply carries the id,
/// r, dr/dimage and the seconds the server spent on it. A stop tells a server that one
/// trainer is done; a server ends when every trainer has stopped.
public enum RewardProtocol {
    public static let requestTag = 9100
    public static let replyTag = 9101
    public static let stopTag = 9102
}

/// A trainer's request for a reward.
public struct RewardRequest: Sendable, Equatable {
    public var requestID: Int64
    public var step: Int64
    public var microBatch: Int32
    public var styleID: Int64
    public var size: Int32
    public var image: [Float]
    public var styleImage: [Float]

    public init(requestID: Int64, step: Int64, microBatch: Int32, styleID: Int64, size: Int32, image: [Float], styleImage: [Float]) {
        self.requestID = requestID; self.step = step; self.microBatch = microBatch; self.styleID = styleID
        self.size = size; self.image = image; self.styleImage = styleImage
    }

    static let headerBytes = 8 + 8 + 4 + 8 + 4

    public func encoded() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(Self.headerBytes + 4 * (image.count + styleImage.count))
        Wire.put(requestID, &out); Wire.put(step, &out); Wire.put(microBatch, &out); Wire.put(styleID, &out); Wire.put(size, &out)
        Wire.put(image, &out); Wire.put(styleImage, &out)
        return out
    }

    public static func decode(_ bytes: [UInt8]) throws(RewardError) -> RewardRequest {
        var r = Wire.Reader(bytes)
        let id: Int64 = try r.get(), step: Int64 = try r.get(), micro: Int32 = try r.get(), style: Int64 = try r.get(), size: Int32 = try r.get()
        let n = 3 * Int(size) * Int(size)
        guard size > 0, bytes.count == headerBytes + 8 * n else {
            throw RewardError("a reward request of \(bytes.count) bytes does not hold two \(size)x\(size) images")
        }
        return RewardRequest(requestID: id, step: step, microBatch: micro, styleID: style, size: size,
                             image: try r.floats(n), styleImage: try r.floats(n))
    }
}

/// A reward rank's answer.
public struct RewardReply: Sendable, Equatable {
    public var requestID: Int64
    public var reward: Float
    public var serviceSeconds: Double
    public var gradient: [Float]

    public init(requestID: Int64, reward: Float, serviceSeconds: Double, gradient: [Float]) {
        self.requestID = requestID; self.reward = reward; self.serviceSeconds = serviceSeconds; self.gradient = gradient
    }

    public func encoded() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(20 + 4 * gradient.count)
        Wire.put(requestID, &out); Wire.put(reward, &out); Wire.put(serviceSeconds, &out); Wire.put(gradient, &out)
        return out
    }

    public static func decode(_ bytes: [UInt8]) throws(RewardError) -> RewardReply {
        var r = Wire.Reader(bytes)
        let id: Int64 = try r.get(), reward: Float = try r.get(), seconds: Double = try r.get()
        guard (bytes.count - 20) % 4 == 0 else { throw RewardError("a reward reply of \(bytes.count) bytes is malformed") }
        return RewardReply(requestID: id, reward: reward, serviceSeconds: seconds, gradient: try r.floats((bytes.count - 20) / 4))
    }
}

/// A reward protocol or service failure.
public struct RewardError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Little-endian fixed-width encoding.
enum Wire {
    static func put<T: FixedWidthInteger>(_ v: T, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }
    static func put(_ v: Float, _ out: inout [UInt8]) { put(v.bitPattern, &out) }
    static func put(_ v: Double, _ out: inout [UInt8]) { put(v.bitPattern, &out) }
    static func put(_ v: [Float], _ out: inout [UInt8]) {
        v.withUnsafeBytes { out.append(contentsOf: $0) }   // little-endian machines (x86_64, arm64)
    }

    struct Reader {
        let bytes: [UInt8]
        var offset = 0
        init(_ b: [UInt8]) { bytes = b }

        mutating func get<T: FixedWidthInteger>() throws(RewardError) -> T {
            let n = MemoryLayout<T>.size
            guard offset + n <= bytes.count else { throw RewardError("a reward message ends early") }
            var v: T = 0
            for k in 0..<n { v |= T(bytes[offset + k]) << (8 * k) }
            offset += n
            return v
        }
        mutating func get() throws(RewardError) -> Float { Float(bitPattern: try get() as UInt32) }
        mutating func get() throws(RewardError) -> Double { Double(bitPattern: try get() as UInt64) }
        mutating func floats(_ n: Int) throws(RewardError) -> [Float] {
            guard offset + 4 * n <= bytes.count else { throw RewardError("a reward message ends early") }
            let values = bytes[offset..<(offset + 4 * n)].withUnsafeBytes { raw in
                (0..<n).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
            }
            offset += 4 * n
            return values
        }
    }
}
