import TripletData
import Comm
import Foundation

/// How a set of the world is cut into shards and shared among ranks: shard k holds sample
/// ids [k * shardSize, (k + 1) * shardSize) and is made by rank k mod (world size). Every
/// sample depends on (seed, set, id) alone, so the files are the same at any world size.
public struct SynthesisPlan: Sendable {
    public let kind: ShardKind
    public let count: Int
    public let shardSize: Int

    public init(kind: ShardKind, count: Int, shardSize: Int) {
        self.kind = kind; self.count = count; self.shardSize = shardSize
    }

    public var shardCount: Int { (count + shardSize - 1) / shardSize }

    public func ids(ofShard k: Int) -> Range<Int64> {
        Int64(k * shardSize)..<Int64(min(count, (k + 1) * shardSize))
    }

    /// The shards rank `rank` of `size` makes.
    public func shards(forRank rank: Int, of size: Int) -> [Int] {
        stride(from: rank, to: shardCount, by: size).map { $0 }
    }

    public func fileName(ofShard k: Int) -> String {
        let digits = String(k)
        return "\(kind.rawValue)-\(String(repeating: "0", count: max(0, 5 - digits.count)))\(digits).h5"
    }
}

/// Writes the world's sets: shards, manifests, and a description of the subjects and styles.
public enum WorldSynthesis {
    /// Makes and writes shard `k` of `plan` into `folder`.
    public static func writeShard(_ world: World, _ plan: SynthesisPlan, shard k: Int, folder: String) throws(TripletDataError) -> ShardInfo {
        let records = plan.ids(ofShard: k).map { world.record(plan.kind, $0) }
        return try ShardWriter.write(records, kind: plan.kind, resolution: world.config.resolution,
                                     to: (folder as NSString).appendingPathComponent(plan.fileName(ofShard: k)))
    }

    /// The manifest of a set, from every shard's info (in shard order).
    public static func manifest(_ world: World, _ plan: SynthesisPlan, shards: [ShardInfo], createdBy: String) -> Manifest {
        let c = world.config
        return Manifest(kind: plan.kind, resolution: c.resolution, shards: shards, createdBy: createdBy, notes: [
            "seed": String(c.seed), "subjects": String(c.subjects), "styles": String(c.styles),
            "held_out_subjects": c.trainSubjects.upperBound < c.subjects ? "\(c.trainSubjects.upperBound)..<\(c.subjects)" : "none",
            "held_out_styles": c.trainStyles.upperBound < c.styles ? "\(c.trainStyles.upperBound)..<\(c.styles)" : "none",
            "shifted_ratio": String(c.shiftedRatio), "eval_fraction": String(c.evalFraction),
        ])
    }

    /// world.json: the configuration, and every subject's and style's id, name and split.
    public static func writeDescription(_ world: World, to path: String) throws(TripletDataError) {
        struct Entry: Codable { let id: Int; let name: String; let heldOut: Bool }
        struct Description: Codable { let config: WorldConfig; let subjects: [Entry]; let styles: [Entry] }
        let c = world.config
        let d = Description(config: c,
                            subjects: world.subjects.map { Entry(id: $0.id, name: $0.phrase, heldOut: !c.trainSubjects.contains($0.id)) },
                            styles: world.styles.map { Entry(id: $0.id, name: $0.name, heldOut: !c.trainStyles.contains($0.id)) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do { try AtomicFile.write(try encoder.encode(d), to: path) } catch let e as TripletDataError { throw e } catch {
            throw TripletDataError(file: path, "cannot encode: \(error)")
        }
    }
}

extension WorldSynthesis {
    /// Makes every set of the world into `out` (OUT/triplets, OUT/pairs, OUT/styles and
    /// world.json) on every rank of `world`: each rank writes its share of the shards
    /// (`SynthesisPlan.shards(forRank:of:)`), the coordinator gathers their infos and writes
    /// each manifest last, and prints a line per set. The files are the same at any world size.
    public static func synthesize(_ config: WorldConfig, into out: String, world: Communicator, coordinator: Int,
                                  createdBy commandLine: String) throws {
        let isCoordinator = world.rank == coordinator
        let w = try World(config)
        let start = Date()
        if isCoordinator {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            print("uso data synth: \(w.subjects.count) subjects, \(w.styles.count) styles, \(config.resolution) px, seed \(config.seed), "
                  + "\(world.size) rank(s)")
            fflush(nil)
        }
        for kind in ShardKind.allCases {
            let plan = SynthesisPlan(kind: kind, count: w.count(kind), shardSize: config.shardSize)
            guard plan.count > 0 else { continue }
            let folder = (out as NSString).appendingPathComponent(kind.rawValue)
            if isCoordinator { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
            try world.barrier()
            let setStart = Date()
            var mine: [Int: ShardInfo] = [:]
            for k in plan.shards(forRank: world.rank, of: world.size) {
                mine[k] = try writeShard(w, plan, shard: k, folder: folder)
            }
            // Every rank's shard infos to the coordinator, which writes the manifest last.
            let encoded = Array(try JSONEncoder().encode(mine))
            if let all = try world.gather(encoded, root: coordinator) {
                var infos: [Int: ShardInfo] = [:]
                for bytes in all { infos.merge(try JSONDecoder().decode([Int: ShardInfo].self, from: Data(bytes))) { a, _ in a } }
                let ordered = (0..<plan.shardCount).compactMap { infos[$0] }
                guard ordered.count == plan.shardCount else {
                    throw TripletDataError(file: folder, "received \(ordered.count) of \(plan.shardCount) shards from the ranks")
                }
                try manifest(w, plan, shards: ordered, createdBy: commandLine).write(to: Manifest.path(in: folder))
                let seconds = Date().timeIntervalSince(setStart)
                print(String(format: "  %@: %d samples in %d shards, %.1f s (%.0f samples/s)", kind.rawValue, plan.count,
                             plan.shardCount, seconds, Double(plan.count) / max(seconds, 1e-9)))
                fflush(nil)
            }
        }
        if isCoordinator {
            try writeDescription(w, to: (out as NSString).appendingPathComponent("world.json"))
            print(String(format: "wrote %@ (world.json, triplets/, pairs/, styles/) in %.1f s", out, Date().timeIntervalSince(start)))
        }
        try world.barrier()
    }
}
