import Foundation
import HDF5Kit

/// What a written shard holds, for the manifest.
public struct ShardInfo: Codable, Sendable, Equatable {
    /// File name relative to the manifest.
    public var file: String
    public var count: Int
    public var firstSampleID: Int64
    /// CRC-32 (hex) per dataset.
    public var checksums: [String: String]

    enum CodingKeys: String, CodingKey {
        case file, count, checksums
        case firstSampleID = "first_sample_id"
    }

    public init(file: String, count: Int, firstSampleID: Int64, checksums: [String: String]) {
        self.file = file; self.count = count; self.firstSampleID = firstSampleID; self.checksums = checksums
    }
}

/// Writes records as one HDF5 shard: every field a dataset (images (N, S, S, 3) uint8
/// chunked one image per chunk, prompts as UTF-8 strings, ids and flags as integers), each
/// with a `crc32` attribute; the root carries the format name and version, the kind, the
/// resolution and the count. Written to a temporary name, synced, renamed.
public enum ShardWriter {
    public static func write(_ records: [ShardRecord], kind: ShardKind, resolution s: Int,
                             to path: String) throws(TripletDataError) -> ShardInfo {
        let n = records.count, imageSize = s * s * 3
        for (i, r) in records.enumerated() {
            let images: [(String, [UInt8]?)] = [("target", r.target), ("style_reference", r.styleReference),
                                                ("content_reference", r.contentReference)]
            for (name, image) in images where kind.imageDatasets.contains(name) {
                if name != "target" && image == nil { continue }   // an absent reference
                guard let image, image.count == imageSize else {
                    throw TripletDataError(file: path, dataset: name,
                                           "record \(i) (sample \(r.sampleID)) has \(image?.count ?? 0) bytes, expected \(s)x\(s)x3 = \(imageSize)")
                }
            }
        }
        let temporary = AtomicFile.temporaryPath(for: path)
        var checksums: [String: String] = [:]
        do {
            let f = try HDF5File.create(temporary)
            try f.setAttribute("format", ShardFormat.name)
            try f.setAttribute("format_version", ShardFormat.version)
            try f.setAttribute("kind", kind.rawValue)
            try f.setAttribute("resolution", Int64(s))
            try f.setAttribute("count", Int64(n))
            try f.setAttribute("checksum_algorithm", ShardFormat.checksumAlgorithm)

            func put<T: HDF5Scalar>(_ name: String, _ values: [T], shape: [Int], chunk: [Int]? = nil) throws(HDF5Error) {
                let d = try f.createDataset(name, kind: T.hdf5Kind, shape: shape, chunk: chunk)
                try values.withUnsafeBufferPointer { (p) throws(HDF5Error) in try d.write(p) }
                let crc = CRC32.of(values).hex
                try d.setAttribute("crc32", crc)
                checksums[name] = crc
            }
            try put("sample_id", records.map(\.sampleID), shape: [n])
            for name in kind.imageDatasets {
                var flat = [UInt8]()
                flat.reserveCapacity(n * imageSize)
                for r in records {
                    let blank = [UInt8](repeating: 0, count: imageSize)
                    switch name {
                    case "target": flat += r.target
                    case "style_reference": flat += r.styleReference ?? blank
                    default: flat += r.contentReference ?? blank
                    }
                }
                try put(name, flat, shape: [n, s, s, 3], chunk: [1, s, s, 3])
            }
            let prompts = records.map(\.prompt)
            let p = try f.writeStrings("prompt", prompts)
            let crc = CRC32.of(strings: prompts).hex
            try p.setAttribute("crc32", crc)
            checksums["prompt"] = crc
            try put("subject_id", records.map(\.subjectID), shape: [n])
            try put("style_id", records.map(\.styleID), shape: [n])
            try put("layout", records.map(\.layout.rawValue), shape: [n])
            try put("split", records.map(\.split.rawValue), shape: [n])
            try put("references", records.map { UInt8($0.contentReference != nil ? 1 : 0) | UInt8($0.styleReference != nil ? 2 : 0) },
                    shape: [n])
            try f.close()
        } catch {
            unlink(temporary)
            throw TripletDataError(error)
        }
        try AtomicFile.commit(temporary, to: path)
        return ShardInfo(file: (path as NSString).lastPathComponent, count: n,
                         firstSampleID: records.first?.sampleID ?? 0, checksums: checksums)
    }
}
