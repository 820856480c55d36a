/// The samples of a manifest as one sequence: position i is (shard, row), skipping the
/// samples the filter excluded. Built from the manifest alone (no shard is opened).
public struct SampleIndex: Sendable {
    public let manifest: Manifest
    public let manifestPath: String
    /// (shard, row) of each position.
    public let locations: [(shard: Int, row: Int)]

    public init(manifestPath: String) throws(TripletDataError) {
        self.manifestPath = manifestPath
        manifest = try Manifest.read(manifestPath)
        let excluded = Set(manifest.excluded)
        var locs: [(Int, Int)] = []
        var global = 0
        for (s, shard) in manifest.shards.enumerated() {
            for r in 0..<shard.count {
                if !excluded.contains(global) { locs.append((s, r)) }
                global += 1
            }
        }
        locations = locs
    }

    public var count: Int { locations.count }
}
