import Foundation

/// A safetensors file opened for reading: its validated header, and tensors read on demand.
///
/// The format: an 8-byte little-endian header length N, N bytes of JSON
/// (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`),
/// then the data, with offsets relative to its start. The header is checked before any
/// tensor memory is allocated: its claimed length against the file, every tensor's dtype,
/// shape and byte count, and its range against the data (inside it, no overlaps, no gaps).
public struct SafeTensorsFile: Sendable {
    /// One tensor's header entry.
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let dtype: SafeTensorsDType
        public let shape: [Int]
        /// Byte range within the data section.
        public let range: Range<Int>
        public var count: Int { shape.reduce(1, *) }
    }

    /// The largest header this reader accepts (the reference implementation's limit).
    public static let maxHeaderBytes = 100_000_000

    public let path: String
    /// Entries by name.
    public let entries: [String: Entry]
    /// Tensor names in data order.
    public let names: [String]
    public let metadata: [String: String]
    /// Where the data section starts in the file.
    let dataStart: Int

    /// Opens and validates `path`; reads only the header.
    public init(path: String) throws(SafeTensorsError) {
        self.path = path
        func fail(_ message: String) -> SafeTensorsError { SafeTensorsError(path: path, message) }
        func fail(_ tensor: String, _ message: String) -> SafeTensorsError {
            SafeTensorsError(path: path, tensor: tensor, message)
        }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw fail("cannot open the file") }
        defer { try? handle.close() }
        let fileSize: Int
        do { fileSize = Int(try handle.seekToEnd()); try handle.seek(toOffset: 0) } catch {
            throw fail("cannot read the file size: \(error.localizedDescription)")
        }
        guard fileSize >= 8 else { throw fail("file of \(fileSize) bytes is too short for a safetensors header") }
        let lengthBytes = (try? handle.read(upToCount: 8)) ?? Data()
        guard lengthBytes.count == 8 else { throw fail("cannot read the header length") }
        let headerLength = lengthBytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(fileSize - 8) else {
            throw fail("header claims \(headerLength) bytes but the file holds only \(fileSize - 8) after the length")
        }
        guard headerLength <= UInt64(Self.maxHeaderBytes) else {
            throw fail("header of \(headerLength) bytes exceeds the limit of \(Self.maxHeaderBytes)")
        }
        guard headerLength >= 2 else { throw fail("header of \(headerLength) bytes cannot hold a JSON object") }
        let headerData = (try? handle.read(upToCount: Int(headerLength))) ?? Data()
        guard headerData.count == Int(headerLength) else { throw fail("cannot read the \(headerLength)-byte header") }
        guard headerData.first == UInt8(ascii: "{"),
              let json = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw fail("the header is not a JSON object")
        }
        dataStart = 8 + Int(headerLength)
        let dataSize = fileSize - dataStart

        var metadata: [String: String] = [:]
        var entries: [String: Entry] = [:]
        for (name, value) in json {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw fail("__metadata__ is not an object of strings") }
                for (k, v) in m {
                    guard let s = v as? String else { throw fail("__metadata__ value for \"\(k)\" is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any] else { throw fail(name, "header entry is not an object") }
            guard let dtypeName = info["dtype"] as? String else { throw fail(name, "has no dtype") }
            guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
                if SafeTensorsDType.formatNames.contains(dtypeName) {
                    throw fail(name, "dtype \(dtypeName) is not supported here (F32, F16 and BF16 are)")
                }
                throw fail(name, "unknown dtype \"\(dtypeName)\"")
            }
            guard let shapeValues = info["shape"] as? [Any] else { throw fail(name, "has no shape") }
            var shape: [Int] = []
            var elements = 1
            for d in shapeValues {
                guard let n = d as? Int, n >= 0 else { throw fail(name, "shape \(shapeValues) has a dimension that is not a non-negative integer") }
                let (p, overflow) = elements.multipliedReportingOverflow(by: n)
                guard !overflow, p <= dataSize else { throw fail(name, "shape \(shapeValues) holds more elements than the file") }
                elements = p
                shape.append(n)
            }
            guard let offsets = info["data_offsets"] as? [Any], offsets.count == 2,
                  let begin = offsets[0] as? Int, let end = offsets[1] as? Int else {
                throw fail(name, "data_offsets is not a pair of integers")
            }
            guard begin >= 0, begin <= end else { throw fail(name, "data_offsets [\(begin), \(end)] is not an increasing range") }
            guard end <= dataSize else {
                throw fail(name, "data_offsets [\(begin), \(end)] extend past the \(dataSize) bytes of data in the file")
            }
            guard end - begin == elements * dtype.size else {
                throw fail(name, "shape \(shape) of \(dtype.rawValue) needs \(elements * dtype.size) bytes but data_offsets give \(end - begin)")
            }
            entries[name] = Entry(name: name, dtype: dtype, shape: shape, range: begin..<end)
        }
        // Ranges must tile the data: sorted by start, each begins where the previous ended.
        let ordered = entries.values.sorted { ($0.range.lowerBound, $0.range.upperBound, $0.name) < ($1.range.lowerBound, $1.range.upperBound, $1.name) }
        var position = 0
        for e in ordered {
            if e.range.lowerBound < position {
                throw fail(e.name, "data_offsets [\(e.range.lowerBound), \(e.range.upperBound)] overlap the previous tensor's bytes")
            }
            if e.range.lowerBound > position {
                throw fail(e.name, "data_offsets start at \(e.range.lowerBound), leaving a gap after byte \(position)")
            }
            position = e.range.upperBound
        }
        guard position == dataSize else {
            throw fail("the tensors cover \(position) bytes of data but the file holds \(dataSize)")
        }
        self.entries = entries
        self.names = ordered.map(\.name)
        self.metadata = metadata
    }

    /// The entry for `name`, or an error naming the file and the tensor.
    public func entry(_ name: String) throws(SafeTensorsError) -> Entry {
        guard let e = entries[name] else { throw SafeTensorsError(path: path, tensor: name, "not in the file") }
        return e
    }

    /// Reads tensor `name` as Float32 into `destination`, which must hold exactly its elements.
    public func read(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws(SafeTensorsError) {
        let e = try entry(name)
        guard destination.count == e.count else {
            throw SafeTensorsError(path: path, tensor: name, "holds \(e.count) elements (shape \(e.shape)), expected \(destination.count)")
        }
        guard e.count > 0 else { return }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw SafeTensorsError(path: path, "cannot open the file") }
        defer { close(fd) }
        let bytes = e.range.count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 16)
        defer { raw.deallocate() }
        var done = 0
        while done < bytes {
            let n = pread(fd, raw + done, bytes - done, off_t(dataStart + e.range.lowerBound + done))
            if n <= 0 {
                throw SafeTensorsError(path: path, tensor: name, "the file ends before the tensor's data (truncated?)")
            }
            done += n
        }
        e.dtype.convert(UnsafeRawPointer(raw), count: e.count, into: destination.baseAddress!)
    }

    /// Reads tensor `name` as a new Float32 array.
    public func read(_ name: String) throws(SafeTensorsError) -> [Float] {
        let e = try entry(name)
        var values = [Float](repeating: 0, count: e.count)
        try values.withUnsafeMutableBufferPointer { (b) throws(SafeTensorsError) in try read(name, into: b) }
        return values
    }
}
