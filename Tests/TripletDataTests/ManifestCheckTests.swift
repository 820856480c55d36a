import Foundation
import Testing
import TripletData
import USOTestSupport

/// Opening a set checks every shard against its manifest (kind, count, sample-id range,
/// recorded checksums, and by default the data's CRC-32), and a malformed manifest is refused
/// naming the key: no swapped, foreign, short or long shard reaches a sample, and nothing traps.
@Suite(.serialized)
struct ManifestCheckTests {
    /// A set of two triplet shards, t-0.h5 (ids 0...3) and t-4.h5 (ids 4...7).
    func makeSet(_ dir: TemporaryDirectory) throws -> String {
        try ShardPlanTests.makeSet(dir, count: 8, shardSize: 4)
    }

    /// Builds the index (as training does) and returns the error it stops with.
    func openError(_ manifest: String, verifyData: Bool = true) -> TripletDataError? {
        do {
            _ = try SampleIndex(manifestPath: manifest, split: .train, verifyData: verifyData)
            return nil
        } catch { return error }
    }

    func editManifest(_ path: String, _ edit: (inout [String: Any]) -> Void) throws {
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
    }

    @Test func aSwappedShardOfTheSameSetIsNamed() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let manifest = try makeSet(dir)
        let first = "\(dir.path)/t-0.h5"
        try FileManager.default.removeItem(atPath: first)
        try FileManager.default.copyItem(atPath: "\(dir.path)/t-4.h5", toPath: first)
        let e = try #require(openError(manifest), "a swapped shard opened")
        #expect(e.file == first && e.dataset == "sample_id", "\(e)")
        #expect(e.message.contains("holds sample ids 4...7") && e.message.contains("the manifest says 0...3"), "\(e)")
        // The data CRC is fine (the shard is intact): skipping it still catches the swap.
        #expect(openError(manifest, verifyData: false)?.dataset == "sample_id")
        #expect(throws: TripletDataError.self) { try SetInspection(manifestPath: manifest) }
    }

    @Test func aPairsShardInATripletSetIsNamed() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let manifest = try makeSet(dir)
        let records = (0..<4).map { ShardRecord(sampleID: Int64($0), target: [UInt8](repeating: 9, count: 48), prompt: "p") }
        _ = try ShardWriter.write(records, kind: .pairs, resolution: 4, to: "\(dir.path)/t-0.h5")
        let e = try #require(openError(manifest))
        #expect(e.file == "\(dir.path)/t-0.h5" && e.message.contains("is a pairs shard; the manifest lists a triplets set"), "\(e)")
    }

    @Test func countsThatDisagreeWithTheShardAreNamed() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let manifest = try makeSet(dir)
        for (shard, count) in [(0, 3), (1, 5), (1, 3)] {
            try editManifest(manifest) { json in
                var shards = json["shards"] as! [[String: Any]]
                for k in shards.indices { shards[k]["count"] = 4 }
                shards[shard]["count"] = count
                json["shards"] = shards
            }
            let e = try #require(openError(manifest), "manifest count \(count) for shard \(shard) accepted")
            #expect(e.file.hasSuffix("t-\(4 * shard).h5") && e.message.contains("holds 4 samples; the manifest lists \(count)"), "\(e)")
        }
        // A count that makes the next shard's ids overlap is a manifest error, named by key.
        try editManifest(manifest) { json in
            var shards = json["shards"] as! [[String: Any]]
            shards[0]["count"] = 5
            json["shards"] = shards
        }
        let overlap = try #require(openError(manifest))
        #expect(overlap.file == manifest && overlap.dataset == "shards[1].first_sample_id", "\(overlap)")
    }

    @Test func malformedManifestsNameTheKey() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let manifest = try makeSet(dir)
        let original = try Data(contentsOf: URL(fileURLWithPath: manifest))
        let cases: [(String, (inout [String: Any]) -> Void, String?, String)] = [
            ("count -1", { j in var s = j["shards"] as! [[String: Any]]; s[0]["count"] = -1; j["shards"] = s },
             "shards[0].count", "is -1 for t-0.h5; a shard holds at least one sample"),
            ("no shards", { j in j["shards"] = [[String: Any]]() }, "shards", "lists no shards"),
            ("count a string", { j in var s = j["shards"] as! [[String: Any]]; s[1]["count"] = "four"; j["shards"] = s },
             nil, "shards[1].count is not an integer"),
            ("no kind", { j in j.removeValue(forKey: "kind") }, nil, "kind is missing"),
            ("a file twice", { j in var s = j["shards"] as! [[String: Any]]; s[1]["file"] = s[0]["file"]; j["shards"] = s },
             "shards[1].file", "t-0.h5 is listed twice"),
            ("a checksum gone", { j in var s = j["shards"] as! [[String: Any]]; var c = s[0]["checksums"] as! [String: Any]
                                   c.removeValue(forKey: "prompt"); s[0]["checksums"] = c; j["shards"] = s },
             "shards[0].checksums", "has no checksum for dataset prompt of t-0.h5"),
        ]
        for (name, edit, dataset, message) in cases {
            try original.write(to: URL(fileURLWithPath: manifest))
            try editManifest(manifest, edit)
            let e = try #require(openError(manifest), "\(name): accepted")
            #expect(e.file == manifest && e.dataset == dataset && e.message.contains(message), "\(name): \(e)")
            #expect(!"\(e)".contains("Optional(") && !"\(e)".contains("CodingKeys"), "\(name): \(e)")
        }
    }

    @Test func aRewrittenShardWithTheSameIdsIsNamedByItsChecksums() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let manifest = try makeSet(dir)
        let path = "\(dir.path)/t-4.h5"
        var records = try (0..<4).map { try ShardReader(path: path).record($0) }
        records[2].prompt = "another prompt"
        _ = try ShardWriter.write(records, kind: .triplets, resolution: 4, to: path)
        let e = try #require(openError(manifest, verifyData: false))
        #expect(e.file == path && e.dataset == "prompt" && e.message.contains("the manifest says"), "\(e)")
    }

    /// The CRC path, pinned: one flipped byte inside an image gives a checksum error naming
    /// the shard and the dataset (not an HDF5 error, not a wrong pixel); `verifyData: false`
    /// skips exactly that check.
    @Test func oneFlippedImageByteIsAChecksumError() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let s = 16, n = s * s * 3
        // Each image a distinct pattern, so its bytes can be found in the file.
        func image(_ k: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: ($0 * 7 + k * 31) ^ ($0 >> 5)) } }
        let records = (0..<4).map { k in
            ShardRecord(sampleID: Int64(k), target: image(3 * k), styleReference: image(3 * k + 1), contentReference: image(3 * k + 2),
                        prompt: "p\(k)", layout: .preserved)
        }
        let path = "\(dir.path)/t.h5"
        let info = try ShardWriter.write(records, kind: .triplets, resolution: s, to: path)
        let manifest = Manifest.path(in: dir.path)
        try Manifest(kind: .triplets, resolution: s, shards: [info], createdBy: "test").write(to: manifest)
        #expect(openError(manifest) == nil)
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        let style2 = try #require(data.range(of: Data(image(3 * 2 + 1))), "the style image's bytes are in the file")
        data[style2.lowerBound + n / 2] ^= 0x01
        try data.write(to: URL(fileURLWithPath: path))
        let e = try #require(openError(manifest), "a flipped image byte went unnoticed")
        #expect(e.file == path && e.dataset == "style_reference", "\(e)")
        #expect(e.message.contains("checksum mismatch"), "\(e)")
        #expect(openError(manifest, verifyData: false) == nil, "without the data CRC the manifest checks pass")
    }
}
