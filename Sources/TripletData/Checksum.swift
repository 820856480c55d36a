internal import CZlib

/// CRC-32 (zlib's, the one Python's `zlib.crc32` computes) over a dataset's bytes in
/// row-major order. Strings are checksummed as each UTF-8 string followed by one NUL byte.
public struct CRC32: Sendable {
    public private(set) var value: UInt32 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            // zlib takes a 32-bit length: feed at most 1 GiB at a time.
            let n = min(bytes.count - offset, 1 << 30)
            value = UInt32(crc32(uLong(value), base.assumingMemoryBound(to: UInt8.self) + offset, uInt(n)))
            offset += n
        }
    }

    public mutating func update<T: BitwiseCopyable>(_ values: UnsafeBufferPointer<T>) {
        update(UnsafeRawBufferPointer(values))
    }

    public mutating func update(strings: [String]) {
        for s in strings {
            var bytes = Array(s.utf8)
            bytes.append(0)
            bytes.withUnsafeBytes { update($0) }
        }
    }

    /// Eight lower-case hex digits.
    public var hex: String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    public static func of<T: BitwiseCopyable>(_ values: [T]) -> CRC32 {
        var c = CRC32()
        values.withUnsafeBufferPointer { c.update($0) }
        return c
    }

    public static func of(strings: [String]) -> CRC32 {
        var c = CRC32()
        c.update(strings: strings)
        return c
    }
}
