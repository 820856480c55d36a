import Foundation

/// Writes Float32 tensors as a safetensors file that the `safetensors` Python package and
/// the diffusion ecosystem load.
///
/// The header is padded with spaces to a multiple of 8 bytes (so the data is aligned, as
/// the reference writer does). The file is written to a temporary name in the same folder,
/// synced, and renamed over the target: an interrupted write never leaves a partial file
/// under the real name.
public enum SafeTensorsWriter {
    /// One tensor to write: a name, a shape, and its elements in row-major order. An item
    /// holds what owns its memory, so the memory cannot be freed before the write reads it
    /// (a release build ends a local's lifetime at its last use, which may be before the
    /// write: a bare pointer then reads freed memory).
    public struct Item {
        public let name: String
        public let shape: [Int]
        private enum Elements {
            case owned(UnsafeBufferPointer<Float>, owner: AnyObject)
            case array([Float])
        }
        private let elements: Elements

        /// Elements in memory that `owner` owns (kept alive by the item until written).
        public init(name: String, shape: [Int], data: UnsafeBufferPointer<Float>, owner: AnyObject) {
            self.name = name
            self.shape = shape
            elements = .owned(data, owner: owner)
        }

        /// Elements given as an array (the item keeps the array).
        public init(name: String, shape: [Int], values: [Float]) {
            self.name = name
            self.shape = shape
            elements = .array(values)
        }

        /// The number of elements.
        public var count: Int {
            switch elements {
            case .owned(let p, _): return p.count
            case .array(let a): return a.count
            }
        }

        /// Calls `body` with the elements, their owner alive throughout.
        func withElements<R>(_ body: (UnsafeBufferPointer<Float>) throws(SafeTensorsError) -> R) throws(SafeTensorsError) -> R {
            switch elements {
            case .owned(let p, let owner):
                defer { withExtendedLifetime(owner) {} }
                return try body(p)
            case .array(let a):
                let copy = a
                return try copy.withUnsafeBufferPointer { (p) throws(SafeTensorsError) -> R in try body(p) }
            }
        }
    }

    /// Writes `items` in the given order (names must be unique) with `metadata`, each stored
    /// as `dtype` (F16 and BF16 rounded to nearest, ties to even; NaN stays NaN).
    public static func write(_ items: [Item], metadata: [String: String] = [:], dtype: SafeTensorsDType = .f32,
                             to path: String) throws(SafeTensorsError) {
        var seen = Set<String>()
        var header: [(String, String)] = []
        var offset = 0
        for item in items {
            guard !item.name.isEmpty, item.name != "__metadata__" else {
                throw SafeTensorsError(path: path, tensor: item.name, "is not a usable tensor name")
            }
            guard seen.insert(item.name).inserted else { throw SafeTensorsError(path: path, tensor: item.name, "appears twice") }
            guard item.shape.reduce(1, *) == item.count else {
                throw SafeTensorsError(path: path, tensor: item.name, "shape \(item.shape) does not hold its \(item.count) values")
            }
            let bytes = item.count * dtype.size
            let shape = item.shape.map(String.init).joined(separator: ",")
            header.append((item.name, "{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + bytes)]}"))
            offset += bytes
        }
        var json = "{"
        var parts: [String] = []
        if !metadata.isEmpty {
            let m = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }.joined(separator: ",")
            parts.append("\"__metadata__\":{\(m)}")
        }
        parts += header.map { "\(jsonString($0.0)):\($0.1)" }
        json += parts.joined(separator: ",") + "}"
        var headerBytes = Array(json.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }

        let directory = (path as NSString).deletingLastPathComponent
        let temporary = (directory.isEmpty ? "." : directory) + "/.\((path as NSString).lastPathComponent).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw SafeTensorsError(path: path, "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var ok = false
        defer {
            close(fd)
            if !ok { unlink(temporary) }
        }
        func put(_ pointer: UnsafeRawPointer, _ count: Int) throws(SafeTensorsError) {
            var done = 0
            while done < count {
                let n = Foundation.write(fd, pointer + done, count - done)
                if n <= 0 { throw SafeTensorsError(path: path, "write failed: \(String(cString: strerror(errno)))") }
                done += n
            }
        }
        var length = UInt64(headerBytes.count).littleEndian
        try withUnsafeBytes(of: &length) { (p) throws(SafeTensorsError) in try put(p.baseAddress!, 8) }
        let headerStorage = UnsafeMutableRawBufferPointer.allocate(byteCount: headerBytes.count, alignment: 8)
        defer { headerStorage.deallocate() }
        headerStorage.copyBytes(from: headerBytes)
        try put(UnsafeRawPointer(headerStorage.baseAddress!), headerBytes.count)
        for item in items where item.count > 0 {
            // Little-endian is the machine's own layout here (x86_64, arm64).
            try item.withElements { (p) throws(SafeTensorsError) in
                switch dtype {
                case .f32: try put(UnsafeRawPointer(p.baseAddress!), p.count * 4)
                case .f16, .bf16:
                    let half = p.map { dtype == .f16 ? Self.float16Bits($0) : Self.bfloat16Bits($0) }
                    let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: half.count * 2, alignment: 2)
                    defer { raw.deallocate() }
                    half.withUnsafeBytes { raw.copyMemory(from: $0) }
                    try put(UnsafeRawPointer(raw.baseAddress!), raw.count)
                }
            }
        }
        guard fsync(fd) == 0 else { throw SafeTensorsError(path: path, "fsync failed: \(String(cString: strerror(errno)))") }
        guard rename(temporary, path) == 0 else {
            throw SafeTensorsError(path: path, "cannot rename \(temporary) into place: \(String(cString: strerror(errno)))")
        }
        ok = true
    }

    /// IEEE half precision, rounded to nearest even (Swift's conversion).
    static func float16Bits(_ x: Float) -> UInt16 { Float16(x).bitPattern }

    /// bfloat16: the upper 16 bits of the float, rounded to nearest even; NaN kept quiet.
    static func bfloat16Bits(_ x: Float) -> UInt16 {
        if x.isNaN { return 0x7FC0 }
        let bits = x.bitPattern
        return UInt16((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16)
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}
