import Foundation

/// The list of a set's shards, in order: what `uso data synth` and `uso data import` write
/// and what training reads. Sample ids run over the shards in order; the global index of a
/// sample is its position in that concatenation.
public struct Manifest: Codable, Sendable, Equatable {
    public static let formatName = "uso-shard-set"
    public static let currentVersion = 1

    public var format: String = Manifest.formatName
    public var formatVersion: Int = Manifest.currentVersion
    public var kind: ShardKind
    public var resolution: Int
    public var shards: [ShardInfo]
    /// What made the set (command line or description).
    public var createdBy: String
    /// Samples excluded by `uso data filter`, by global index (sorted); empty for a full set.
    public var excluded: [Int] = []
    /// Free-form facts about the set (seed, world sizes, held-out ids, filter thresholds).
    public var notes: [String: String] = [:]

    enum CodingKeys: String, CodingKey {
        case format, kind, resolution, shards, excluded, notes
        case formatVersion = "format_version"
        case createdBy = "created_by"
    }

    public init(kind: ShardKind, resolution: Int, shards: [ShardInfo], createdBy: String, notes: [String: String] = [:]) {
        self.kind = kind
        self.resolution = resolution
        self.shards = shards
        self.createdBy = createdBy
        self.notes = notes
    }

    /// Samples in the shards (before exclusions).
    public var totalCount: Int { shards.reduce(0) { $0 + $1.count } }

    /// The default manifest file of a set folder.
    public static func path(in folder: String) -> String { (folder as NSString).appendingPathComponent("manifest.json") }

    /// Writes the manifest atomically (temporary name, sync, rename): a crash never leaves a
    /// manifest naming shards that were not completely written.
    public func write(to path: String) throws(TripletDataError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do { data = try encoder.encode(self) } catch { throw TripletDataError(file: path, "cannot encode the manifest: \(error)") }
        try AtomicFile.write(data, to: path)
    }

    /// Reads and checks a manifest; shard paths are relative to its folder.
    public static func read(_ path: String) throws(TripletDataError) -> Manifest {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw TripletDataError(file: path, "cannot read the manifest: \(error.localizedDescription)")
        }
        let decoder = JSONDecoder()
        let m: Manifest
        do { m = try decoder.decode(Manifest.self, from: data) } catch let e as DecodingError {
            throw TripletDataError(file: path, "not a valid manifest: \(DecodingProblem(e))")
        } catch {
            throw TripletDataError(file: path, "not a valid manifest: \(error.localizedDescription)")
        }
        guard m.format == formatName else { throw TripletDataError(file: path, "format is \"\(m.format)\", expected \"\(formatName)\"") }
        guard m.formatVersion == currentVersion else {
            throw TripletDataError(file: path, "format version \(m.formatVersion) is not the supported \(currentVersion)")
        }
        guard m.resolution > 0 else { throw TripletDataError(file: path, dataset: "resolution", "is \(m.resolution); it must be positive") }
        guard !m.shards.isEmpty else { throw TripletDataError(file: path, dataset: "shards", "lists no shards: the set is empty") }
        var files = Set<String>()
        var nextID: Int64 = 0
        for (i, shard) in m.shards.enumerated() {
            let key = "shards[\(i)]"
            guard !shard.file.isEmpty else { throw TripletDataError(file: path, dataset: "\(key).file", "is empty") }
            guard files.insert(shard.file).inserted else {
                throw TripletDataError(file: path, dataset: "\(key).file", "\(shard.file) is listed twice")
            }
            guard shard.count >= 1 else {
                throw TripletDataError(file: path, dataset: "\(key).count", "is \(shard.count) for \(shard.file); a shard holds at least one sample")
            }
            guard shard.firstSampleID >= nextID else {
                throw TripletDataError(file: path, dataset: "\(key).first_sample_id",
                                       "is \(shard.firstSampleID) for \(shard.file); the shards before it reach sample id \(nextID - 1) (ids must rise and not repeat)")
            }
            nextID = shard.firstSampleID + Int64(shard.count)
        }
        if let bad = m.excluded.first(where: { $0 < 0 || $0 >= m.totalCount }) {
            throw TripletDataError(file: path, dataset: "excluded", "index \(bad) outside the set's \(m.totalCount) samples")
        }
        return m
    }

    /// The absolute path of shard `i` for a manifest at `manifestPath`.
    public func shardPath(_ i: Int, manifestPath: String) -> String {
        if shards[i].file.hasPrefix("/") { return shards[i].file }
        return ((manifestPath as NSString).deletingLastPathComponent as NSString).appendingPathComponent(shards[i].file)
    }
}
