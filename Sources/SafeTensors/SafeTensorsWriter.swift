import Foundation

/// Writes Float32 tensors as a safetensors file that the `safetensors` Python package and
/// the diffusion ecosystem load.
///
/// The header is padded with spaces to a multiple of 8 bytes (so the data is aligned, as
/// the reference writer does). The file is written to a temporary name in the same folder,
/// synced, and renamed over the target: an interrupted write never leaves a partial file
/// under the real name.
public enum SafeTensorsWriter {
    /// One tensor to write: a name, a shape, and its elements in row-major order.
    public struct Item {
        public let name: String
        public let shape: [Int]
        public let data: UnsafeBufferPointer<Float>

        public init(name: String, shape: [Int], data: UnsafeBufferPointer<Float>) {
            self.name = name
            self.shape = shape
            self.data = data
        }
    }

    /// Writes `items` in the given order (names must be unique) with `metadata`.
    public static func write(_ items: [Item], metadata: [String: String] = [:], to path: String) throws(SafeTensorsError) {
        var seen = Set<String>()
        var header: [(String, String)] = []
        var offset = 0
        for item in items {
            guard !item.name.isEmpty, item.name != "__metadata__" else {
                throw SafeTensorsError(path: path, tensor: item.name, "is not a usable tensor name")
            }
            guard seen.insert(item.name).inserted else { throw SafeTensorsError(path: path, tensor: item.name, "appears twice") }
            guard item.shape.reduce(1, *) == item.data.count else {
                throw SafeTensorsError(path: path, tensor: item.name, "shape \(item.shape) does not hold its \(item.data.count) values")
            }
            let bytes = item.data.count * 4
            let shape = item.shape.map(String.init).joined(separator: ",")
            header.append((item.name, "{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + bytes)]}"))
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
        for item in items where item.data.count > 0 {
            // Little-endian Float32 is the machine's own layout here (x86_64, arm64).
            try put(UnsafeRawPointer(item.data.baseAddress!), item.data.count * 4)
        }
        guard fsync(fd) == 0 else { throw SafeTensorsError(path: path, "fsync failed: \(String(cString: strerror(errno)))") }
        guard rename(temporary, path) == 0 else {
            throw SafeTensorsError(path: path, "cannot rename \(temporary) into place: \(String(cString: strerror(errno)))")
        }
        ok = true
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
