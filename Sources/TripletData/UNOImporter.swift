import Foundation
import ImageIO

/// Imports UNO's dataset format: a JSON list of {"prompt", "image_paths": [...],
/// "image_tgt_path"}, paths relative to the JSON file. The first of `image_paths` is the
/// content reference; the next, if any, the style reference (USO feeds further ones as more
/// style images; a triplet shard holds one, so further ones are counted and left out).
/// PNG and JPEG images are centre-cropped to a square and resized to the set's resolution.
public struct UNOImporter {
    public struct Report: Sendable {
        public var imported = 0
        public var skipped: [(index: Int, reason: String)] = []
        public var extraStyleImages = 0
        public var shards = 0
    }

    public let jsonPath: String
    public let resolution: Int
    public let shardSize: Int
    public let skipBad: Bool

    public init(jsonPath: String, resolution: Int, shardSize: Int = 256, skipBad: Bool = false) {
        self.jsonPath = jsonPath
        self.resolution = resolution
        self.shardSize = shardSize
        self.skipBad = skipBad
    }

    struct Entry: Decodable {
        let prompt: String
        let imagePaths: [String]
        let imageTgtPath: String
        enum CodingKeys: String, CodingKey {
            case prompt
            case imagePaths = "image_paths"
            case imageTgtPath = "image_tgt_path"
        }
    }

    /// Reads, converts and writes the set into `folder` (which must not hold a manifest yet).
    /// A bad entry stops the import naming its index and path, unless `skipBad`, which
    /// counts it and goes on. Nothing is listed in a manifest until every shard is written.
    public func run(into folder: String) throws(TripletDataError) -> Report {
        let manifestPath = Manifest.path(in: folder)
        guard !FileManager.default.fileExists(atPath: manifestPath) else {
            throw TripletDataError(file: manifestPath, "already exists; import into a new folder")
        }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: jsonPath)) } catch {
            throw TripletDataError(file: jsonPath, "cannot read: \(error.localizedDescription)")
        }
        // Decode entry by entry, so that one malformed entry is reported by its index.
        guard let raw = try? JSONSerialization.jsonObject(with: data) as? [Any] else {
            throw TripletDataError(file: jsonPath, "not a JSON list of {\"prompt\", \"image_paths\", \"image_tgt_path\"} entries")
        }
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw TripletDataError(file: folder, "cannot create the folder: \(error.localizedDescription)")
        }
        let base = (jsonPath as NSString).deletingLastPathComponent
        var report = Report()
        var pending: [ShardRecord] = []
        var infos: [ShardInfo] = []
        func flush() throws(TripletDataError) {
            guard !pending.isEmpty else { return }
            let name = String(format: "triplets-%05d.h5", infos.count)
            infos.append(try ShardWriter.write(pending, kind: .triplets, resolution: resolution,
                                               to: (folder as NSString).appendingPathComponent(name)))
            pending = []
        }
        for (i, item) in raw.enumerated() {
            do {
                let record = try convert(item, index: i, base: base, sampleID: Int64(report.imported), report: &report)
                pending.append(record)
                report.imported += 1
                if pending.count == shardSize { try flush() }
            } catch {
                if !skipBad { throw error }
                report.skipped.append((i, error.description))
            }
        }
        try flush()
        report.shards = infos.count
        let manifest = Manifest(kind: .triplets, resolution: resolution, shards: infos,
                                createdBy: "uso data import \(jsonPath)",
                                notes: ["source": jsonPath, "skipped_entries": String(report.skipped.count),
                                        "extra_style_images_left_out": String(report.extraStyleImages)])
        try manifest.write(to: manifestPath)
        return report
    }

    private func convert(_ item: Any, index i: Int, base: String, sampleID: Int64, report: inout Report) throws(TripletDataError) -> ShardRecord {
        let entryName = "entry \(i)"
        guard let object = item as? [String: Any], let json = try? JSONSerialization.data(withJSONObject: object),
              let e = try? JSONDecoder().decode(Entry.self, from: json) else {
            throw TripletDataError(file: jsonPath, dataset: entryName, "needs \"prompt\" (string), \"image_paths\" (list) and \"image_tgt_path\" (string)")
        }
        guard !e.imagePaths.isEmpty else {
            throw TripletDataError(file: jsonPath, dataset: entryName, "image_paths is empty (the first is the content reference)")
        }
        func load(_ relative: String) throws(TripletDataError) -> [UInt8] {
            let path = relative.hasPrefix("/") ? relative : (base as NSString).appendingPathComponent(relative)
            do {
                return try ImageFiles.read(path).centerSquare().resized(width: resolution, height: resolution).pixels
            } catch {
                throw TripletDataError(file: jsonPath, dataset: entryName, "\(error)")
            }
        }
        let target = try load(e.imageTgtPath)
        let content = try load(e.imagePaths[0])
        let style = e.imagePaths.count > 1 ? try load(e.imagePaths[1]) : nil
        report.extraStyleImages += max(0, e.imagePaths.count - 2)
        return ShardRecord(sampleID: sampleID, target: target, styleReference: style, contentReference: content, prompt: e.prompt)
    }
}
