import HDF5Kit

/// An open shard: its labels in memory, its images read one sample at a time.
///
/// Opening checks the format name and version, the kind, that every dataset is present
/// with the right type and shape, and (by default) every dataset's CRC-32, so a missing,
/// truncated or corrupted shard stops with the file, the dataset and what is wrong.
public final class ShardReader {
    public let path: String
    public let kind: ShardKind
    public let resolution: Int
    public let count: Int
    public let sampleIDs: [Int64]
    public let prompts: [String]
    public let subjectIDs: [Int32]
    public let styleIDs: [Int32]
    public let layouts: [LayoutFlag]
    public let splits: [Split]
    /// Per sample: bit 0 content reference present, bit 1 style reference present.
    public let references: [UInt8]
    /// Each dataset's `crc32` attribute, as the file records it (checked against the data when
    /// opened with `verifyChecksums`, and against the manifest by `Manifest.openShard`).
    public let recordedChecksums: [String: String]
    private let file: HDF5File
    private let images: [String: HDF5Dataset]

    public init(path: String, verifyChecksums: Bool = true) throws(TripletDataError) {
        self.path = path
        do {
            file = try HDF5File.open(path)
        } catch {
            throw TripletDataError(error)
        }
        func fail(_ dataset: String?, _ message: String) -> TripletDataError {
            TripletDataError(file: path, dataset: dataset, message)
        }
        do {
            guard try file.stringAttribute("format") == ShardFormat.name else {
                throw fail(nil, "not a uso shard (its format attribute is not \"\(ShardFormat.name)\")")
            }
            guard let version = try file.intAttribute("format_version") else { throw fail(nil, "has no format_version attribute") }
            guard version == ShardFormat.version else {
                throw fail(nil, "format version \(version) is not the supported \(ShardFormat.version)")
            }
            guard let k = try file.stringAttribute("kind").flatMap(ShardKind.init(rawValue:)) else {
                throw fail(nil, "kind attribute missing or unknown")
            }
            kind = k
            guard let res = try file.intAttribute("resolution"), res > 0, let n = try file.intAttribute("count"), n >= 0 else {
                throw fail(nil, "resolution or count attribute missing")
            }
            resolution = Int(res)
            count = Int(n)
            var opened: [String: HDF5Dataset] = [:]
            var recorded: [String: String] = [:]
            for name in ShardFormat.datasets(k) {
                guard file.contains(name) else { throw fail(name, "missing") }
                let d = try file.dataset(name)
                let imageShape = [count, resolution, resolution, 3]
                let want = k.imageDatasets.contains(name) ? imageShape : [count]
                guard d.shape == want else { throw fail(name, "has shape \(d.shape), expected \(want)") }
                opened[name] = d
                recorded[name] = try d.stringAttribute("crc32")
                if verifyChecksums { try Self.verify(d, path: path) }
            }
            recordedChecksums = recorded
            images = opened.filter { k.imageDatasets.contains($0.key) }
            sampleIDs = try opened["sample_id"]!.read(Int64.self)
            prompts = try opened["prompt"]!.readStrings()
            subjectIDs = try opened["subject_id"]!.read(Int32.self)
            styleIDs = try opened["style_id"]!.read(Int32.self)
            let layoutBytes = try opened["layout"]!.read(UInt8.self)
            let splitBytes = try opened["split"]!.read(UInt8.self)
            var ls: [LayoutFlag] = [], ss: [Split] = []
            for (i, b) in layoutBytes.enumerated() {
                guard let l = LayoutFlag(rawValue: b) else { throw fail("layout", "row \(i) holds \(b), not 0, 1 or 255") }
                ls.append(l)
            }
            for (i, b) in splitBytes.enumerated() {
                guard let s = Split(rawValue: b) else { throw fail("split", "row \(i) holds \(b), not 0 or 1") }
                ss.append(s)
            }
            layouts = ls
            splits = ss
            references = try opened["references"]!.read(UInt8.self)
        } catch let e as TripletDataError {
            throw e
        } catch let e as HDF5Error {
            throw TripletDataError(e)
        } catch {
            throw fail(nil, "\(error)")
        }
    }

    /// Recomputes a dataset's CRC-32 and compares it with its `crc32` attribute.
    static func verify(_ d: HDF5Dataset, path: String) throws {
        guard let stored = try d.stringAttribute("crc32") else {
            throw TripletDataError(file: path, dataset: d.name, "has no crc32 attribute")
        }
        var crc = CRC32()
        switch d.kind {
        case .string: crc.update(strings: try d.readStrings())
        case .uint8:
            // Images: a chunk of rows at a time, so verifying never holds a whole shard.
            let rows = d.shape.first ?? 0, step = max(1, (1 << 22) / max(1, d.rowSize))
            var buffer = [UInt8](repeating: 0, count: min(rows, step) * d.rowSize)
            var start = 0
            while start < rows {
                let end = min(rows, start + step)
                let n = (end - start) * d.rowSize
                try buffer.withUnsafeMutableBufferPointer { b in
                    let part = UnsafeMutableBufferPointer(rebasing: b[0..<n])
                    try d.read(into: part, rows: start..<end)
                    crc.update(UnsafeBufferPointer(part))
                }
                start = end
            }
        case .int32: crc = CRC32.of(try d.read(Int32.self))
        case .int64: crc = CRC32.of(try d.read(Int64.self))
        case .float32: crc = CRC32.of(try d.read(Float.self))
        case .float64: crc = CRC32.of(try d.read(Double.self))
        }
        guard crc.hex == stored else {
            throw TripletDataError(file: path, dataset: d.name, "checksum mismatch: the data gives crc32 \(crc.hex), the file records \(stored) (corrupted?)")
        }
    }

    /// Reads sample `index`'s image `dataset` ("target", "style_reference", "content_reference")
    /// into `destination` (resolution * resolution * 3 bytes).
    public func readImage(_ dataset: String, index: Int, into destination: UnsafeMutableBufferPointer<UInt8>) throws(TripletDataError) {
        guard let d = images[dataset] else { throw TripletDataError(file: path, dataset: dataset, "not in a \(kind.rawValue) shard") }
        guard index >= 0 && index < count else { throw TripletDataError(file: path, dataset: dataset, "sample index \(index) outside 0..<\(count)") }
        do { try d.read(into: destination, rows: index..<(index + 1)) } catch { throw TripletDataError(error) }
    }

    /// The whole record at `index` (allocates: for inspection and tests, not the training loop).
    public func record(_ index: Int) throws(TripletDataError) -> ShardRecord {
        let n = resolution * resolution * 3
        func image(_ name: String) throws(TripletDataError) -> [UInt8]? {
            guard kind.imageDatasets.contains(name) else { return nil }
            var bytes = [UInt8](repeating: 0, count: n)
            try bytes.withUnsafeMutableBufferPointer { (b) throws(TripletDataError) in try readImage(name, index: index, into: b) }
            return bytes
        }
        return ShardRecord(sampleID: sampleIDs[index], target: try image("target")!,
                           styleReference: references[index] & 2 != 0 ? try image("style_reference") : nil,
                           contentReference: references[index] & 1 != 0 ? try image("content_reference") : nil, prompt: prompts[index],
                           subjectID: subjectIDs[index], styleID: styleIDs[index], layout: layouts[index], split: splits[index])
    }
}
