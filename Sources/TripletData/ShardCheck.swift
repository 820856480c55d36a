/// Opening a set's shard through its manifest: the one way every reader (training, inspect,
/// generate, sheet, eval, filter) opens a shard, so a shard that is not the one the manifest
/// lists never reaches a sample.
///
/// Checked, naming the shard, the expected and the found value: the kind and resolution, the
/// sample count, the sample-id range (a shard of the same set swapped in fails here), every
/// dataset's recorded checksum against the manifest's, and (when `verifyData`) the data
/// itself against those checksums.
extension Manifest {
    public func openShard(_ i: Int, manifestPath: String, verifyData: Bool) throws(TripletDataError) -> ShardReader {
        let entry = shards[i]
        let path = shardPath(i, manifestPath: manifestPath)
        let r = try ShardReader(path: path, verifyChecksums: verifyData)
        func fail(_ dataset: String?, _ message: String) -> TripletDataError {
            TripletDataError(file: path, dataset: dataset, message + " (shard \(i) of \(manifestPath))")
        }
        guard r.kind == kind else {
            throw fail(nil, "is a \(r.kind.rawValue) shard; the manifest lists a \(kind.rawValue) set")
        }
        guard r.resolution == resolution else {
            throw fail(nil, "holds \(r.resolution) px images; the manifest says \(resolution) px")
        }
        guard r.count == entry.count else {
            throw fail(nil, "holds \(r.count) samples; the manifest lists \(entry.count)")
        }
        if let row = r.sampleIDs.indices.first(where: { r.sampleIDs[$0] != entry.firstSampleID + Int64($0) }) {
            let found = r.sampleIDs.isEmpty ? "none" : "\(r.sampleIDs.first!)...\(r.sampleIDs.last!)"
            throw fail("sample_id", "holds sample ids \(found) (row \(row): \(r.sampleIDs[row])); the manifest says "
                       + "\(entry.firstSampleID)...\(entry.firstSampleID + Int64(entry.count) - 1)")
        }
        for name in ShardFormat.datasets(kind) {
            guard let expected = entry.checksums[name] else {
                throw TripletDataError(file: manifestPath, dataset: "shards[\(i)].checksums",
                                       "has no checksum for dataset \(name) of \(entry.file)")
            }
            let found = r.recordedChecksums[name] ?? "none"
            guard found == expected else {
                throw fail(name, "records crc32 \(found); the manifest says \(expected) (a different or rewritten shard)")
            }
        }
        return r
    }
}
