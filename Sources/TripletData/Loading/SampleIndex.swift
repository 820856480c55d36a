/// The samples of a manifest as one sequence: position i is (shard, row), skipping the
/// samples the filter excluded and, when a split is asked for, the rows of the other split.
/// Training reads `.train` only and evaluation `.eval` only: held-out samples (and with them
/// the held-out subjects and styles) never reach a trainer.
///
/// Building the index opens every shard through `Manifest.openShard`: kind, count, sample-id
/// range and recorded checksums are checked always, the data's CRC-32 too unless
/// `verifyData` is false (`data.verify_crc = false`, for speed on sets verified before).
public struct SampleIndex: Sendable {
    public let manifest: Manifest
    public let manifestPath: String
    /// (shard, row) of each position.
    public let locations: [(shard: Int, row: Int)]
    /// The split kept, or nil for every row.
    public let split: Split?
    /// The style label of each position (-1 where a sample has none), for plans that group
    /// a batch's samples by style (`ShardPlan.Grouping`).
    public let styleIDs: [Int32]

    public init(manifestPath: String, split: Split? = nil, verifyData: Bool = true) throws(TripletDataError) {
        self.manifestPath = manifestPath
        self.split = split
        manifest = try Manifest.read(manifestPath)
        let excluded = Set(manifest.excluded)
        var locs: [(Int, Int)] = []
        var styles: [Int32] = []
        var global = 0
        var available: [Split: Int] = [:]
        for (s, shard) in manifest.shards.enumerated() {
            let reader = try manifest.openShard(s, manifestPath: manifestPath, verifyData: verifyData)
            let splits = reader.splits
            for r in 0..<shard.count {
                defer { global += 1 }
                guard !excluded.contains(global) else { continue }
                available[splits[r], default: 0] += 1
                if let split, splits[r] != split { continue }
                locs.append((s, r))
                styles.append(reader.styleIDs[r])
            }
        }
        if let split, locs.isEmpty {
            let counts = Split.allCases.map { "\(available[$0] ?? 0) \($0.name)" }.joined(separator: ", ")
            throw TripletDataError(file: manifestPath, dataset: "split",
                                   "has no \(split.name) rows (\(counts)): " + (split == .train
                                       ? "training reads train rows only, never held-out ones"
                                       : "evaluation reads eval rows only, never trained-on ones"))
        }
        locations = locs
        styleIDs = styles
    }

    public var count: Int { locations.count }
}
