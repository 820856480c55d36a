import Foundation

/// Writes a safetensors file one tensor at a time: the header (every name and shape) first,
/// then each tensor's elements as they come, so a file larger than memory (a merged
/// checkpoint) is written holding one tensor at a time.
///
/// The file is written to a temporary name in the same folder; `finish` syncs it and renames
/// it over the target. Dropped before `finish` (an error on the way), it removes the
/// temporary file: an interrupted write never leaves a partial file under the real name.
public final class SafeTensorsStreamWriter {
    public let path: String
    public let dtype: SafeTensorsDType
    private let temporary: String
    private var fd: Int32
    private let order: [(name: String, count: Int)]
    private var next = 0
    private var finished = false

    /// Creates the temporary file and writes the header of `tensors` (name, shape, element
    /// count) in that order, with `metadata`. The header is padded with spaces to a multiple
    /// of 8 bytes (so the data is aligned, as the reference writer does).
    public init(path: String, tensors: [(name: String, shape: [Int], count: Int)], metadata: [String: String] = [:],
                dtype: SafeTensorsDType = .f32) throws(SafeTensorsError) {
        self.path = path
        self.dtype = dtype
        var seen = Set<String>()
        var header: [(String, String)] = []
        var offset = 0
        for t in tensors {
            guard !t.name.isEmpty, t.name != "__metadata__" else {
                throw SafeTensorsError(path: path, tensor: t.name, "is not a usable tensor name")
            }
            guard seen.insert(t.name).inserted else { throw SafeTensorsError(path: path, tensor: t.name, "appears twice") }
            guard t.shape.reduce(1, *) == t.count else {
                throw SafeTensorsError(path: path, tensor: t.name, "shape \(t.shape) does not hold its \(t.count) values")
            }
            let bytes = t.count * dtype.size
            let shape = t.shape.map(String.init).joined(separator: ",")
            header.append((t.name, "{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + bytes)]}"))
            offset += bytes
        }
        order = tensors.map { ($0.name, $0.count) }
        var parts: [String] = []
        if !metadata.isEmpty {
            let m = metadata.keys.sorted().map { "\(SafeTensorsWriter.jsonString($0)):\(SafeTensorsWriter.jsonString(metadata[$0]!))" }.joined(separator: ",")
            parts.append("\"__metadata__\":{\(m)}")
        }
        parts += header.map { "\(SafeTensorsWriter.jsonString($0.0)):\($0.1)" }
        var headerBytes = Array(("{" + parts.joined(separator: ",") + "}").utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }

        let directory = (path as NSString).deletingLastPathComponent
        temporary = (directory.isEmpty ? "." : directory) + "/.\((path as NSString).lastPathComponent).tmp-\(getpid())"
        fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw SafeTensorsError(path: path, "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var length = UInt64(headerBytes.count).littleEndian
        try withUnsafeBytes(of: &length) { (p) throws(SafeTensorsError) in try put(p.baseAddress!, 8) }
        let headerStorage = UnsafeMutableRawBufferPointer.allocate(byteCount: headerBytes.count, alignment: 8)
        defer { headerStorage.deallocate() }
        headerStorage.copyBytes(from: headerBytes)
        try put(UnsafeRawPointer(headerStorage.baseAddress!), headerBytes.count)
    }

    deinit {
        if fd >= 0 { close(fd) }
        if !finished { unlink(temporary) }
    }

    private func put(_ pointer: UnsafeRawPointer, _ count: Int) throws(SafeTensorsError) {
        var done = 0
        while done < count {
            let n = Foundation.write(fd, pointer + done, count - done)
            if n <= 0 { throw SafeTensorsError(path: path, "write failed: \(String(cString: strerror(errno)))") }
            done += n
        }
    }

    /// Appends the next tensor's elements (the header's order), converted to the file's dtype.
    public func append(_ name: String, _ values: UnsafeBufferPointer<Float>) throws(SafeTensorsError) {
        guard next < order.count, order[next].name == name else {
            throw SafeTensorsError(path: path, tensor: name, "written out of the header's order (expected \(next < order.count ? order[next].name : "no more tensors"))")
        }
        guard values.count == order[next].count else {
            throw SafeTensorsError(path: path, tensor: name, "\(values.count) values, the header says \(order[next].count)")
        }
        next += 1
        guard let base = values.baseAddress, values.count > 0 else { return }
        switch dtype {
        case .f32: try put(UnsafeRawPointer(base), values.count * 4)   // little-endian is the machine's layout (x86_64, arm64)
        case .f16, .bf16:
            // In chunks: a fixed buffer, whatever the tensor's size.
            let chunk = 1 << 16
            let raw = UnsafeMutablePointer<UInt16>.allocate(capacity: chunk)
            defer { raw.deallocate() }
            var start = 0
            while start < values.count {
                let n = min(chunk, values.count - start)
                for i in 0..<n {
                    raw[i] = dtype == .f16 ? SafeTensorsWriter.float16Bits(base[start + i]) : SafeTensorsWriter.bfloat16Bits(base[start + i])
                }
                try put(UnsafeRawPointer(raw), n * 2)
                start += n
            }
        }
    }

    /// Syncs the file and renames it into place; every tensor of the header must be written.
    public func finish() throws(SafeTensorsError) {
        guard next == order.count else {
            throw SafeTensorsError(path: path, tensor: order[next].name, "never written; the file is incomplete and was not kept")
        }
        guard fsync(fd) == 0 else { throw SafeTensorsError(path: path, "fsync failed: \(String(cString: strerror(errno)))") }
        close(fd)
        fd = -1
        guard rename(temporary, path) == 0 else {
            throw SafeTensorsError(path: path, "cannot rename \(temporary) into place: \(String(cString: strerror(errno)))")
        }
        finished = true
        let directory = (path as NSString).deletingLastPathComponent
        let dfd = open(directory.isEmpty ? "." : directory, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}
