import Foundation
import HDF5Kit
import Testing
import TripletData
import USOTestSupport

/// The shard format: every field round trips, reads land at the right offsets, outside tools
/// read it, and missing, truncated or corrupted shards stop with the file and the dataset.
@Suite(.serialized)
struct ShardFormatTests {
    static let s = 4

    /// Record i's images hold consecutive integers (mod 256) from a per-image offset.
    static func record(_ i: Int, kind: ShardKind = .triplets) -> ShardRecord {
        let n = s * s * 3
        func image(_ k: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: (i * 3 + k) * n + $0) } }
        return ShardRecord(sampleID: Int64(1000 + i), target: image(0),
                           styleReference: kind == .triplets ? image(1) : nil,
                           contentReference: kind == .triplets ? image(2) : nil,
                           prompt: i % 3 == 0 ? "" : "prompt \(i) ✓", subjectID: Int32(i % 5) - 1, styleID: Int32(i * 7 % 11),
                           layout: kind == .triplets ? (i % 2 == 0 ? .preserved : .shifted) : .none, split: i % 4 == 3 ? .eval : .train)
    }

    @Test(arguments: ShardKind.allCases)
    func everyFieldRoundTrips(kind: ShardKind) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.url.appendingPathComponent("shard.h5").path
        let records = (0..<9).map { Self.record($0, kind: kind) }
        let info = try ShardWriter.write(records, kind: kind, resolution: Self.s, to: path)
        #expect(info.count == 9 && info.firstSampleID == 1000 && info.file == "shard.h5")
        #expect(Set(info.checksums.keys) == Set(ShardFormat.datasets(kind)))
        let r = try ShardReader(path: path)
        #expect(r.kind == kind && r.count == 9 && r.resolution == Self.s)
        for i in (0..<9).reversed() { #expect(try r.record(i) == records[i], "record \(i)") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["shard.h5"], "no temporary left")
    }

    @Test func h5pyReadsAShardAndItsChecksums() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.url.appendingPathComponent("shard.h5").path
        _ = try ShardWriter.write((0..<5).map { Self.record($0) }, kind: .triplets, resolution: Self.s, to: path)
        let out = try Python.run("""
            import sys, zlib, h5py, numpy as np
            with h5py.File(sys.argv[1], "r") as f:
                assert f.attrs["format"] == "uso-shard" and int(f.attrs["format_version"]) == 1
                assert f.attrs["kind"] == "triplets" and int(f.attrs["count"]) == 5
                t = f["target"][...]
                assert t.dtype == np.uint8 and t.shape == (5, 4, 4, 3)
                n = 48
                assert np.array_equal(f["content_reference"][2].ravel(), (np.arange(n) + (2 * 3 + 2) * n) % 256)
                assert list(f["sample_id"][...]) == [1000, 1001, 1002, 1003, 1004]
                prompts = [p.decode() if isinstance(p, bytes) else p for p in f["prompt"][...]]
                assert prompts[1] == "prompt 1 ✓" and prompts[0] == ""
                for name in f:
                    d = f[name]
                    if d.dtype.kind in "OS":
                        data = b"".join((p if isinstance(p, bytes) else p.encode()) + b"\\0" for p in d[...])
                    else:
                        data = np.ascontiguousarray(d[...]).astype(d.dtype.newbyteorder("<")).tobytes()
                    assert "%08x" % zlib.crc32(data) == d.attrs["crc32"], name
            print("OK")
            """, [path])
        #expect(out.exitCode == 0 && out.stdout == "OK\n", "\(out.transcript)")
    }

    func corrupt(_ path: String, at fraction: Double) throws {
        let url = URL(fileURLWithPath: path)
        var data = try Data(contentsOf: url)
        let i = Int(Double(data.count) * fraction)
        data[i] ^= 0xFF
        try data.write(to: url)
    }

    @Test func corruptedImageBytesNameTheDataset() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.url.appendingPathComponent("shard.h5").path
        // Big enough images that the middle of the file is image data.
        let n = 32 * 32 * 3
        let records = (0..<8).map { i in
            ShardRecord(sampleID: Int64(i), target: [UInt8](repeating: UInt8(i), count: n), styleReference: [UInt8](repeating: 1, count: n),
                        contentReference: [UInt8](repeating: 2, count: n), prompt: "p", layout: .preserved)
        }
        _ = try ShardWriter.write(records, kind: .triplets, resolution: 32, to: path)
        try corrupt(path, at: 0.2)
        do {
            _ = try ShardReader(path: path)
            Issue.record("a corrupted shard opened")
        } catch {
            #expect(error.file == path)
            #expect(error.message.contains("checksum mismatch") || error.message.contains("HDF5"), "\(error)")
            #expect(error.dataset != nil, "\(error)")
        }
    }

    @Test func missingAndTruncatedShards() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.url.appendingPathComponent("shard.h5").path
        #expect(throws: TripletDataError(file: path, "no such file")) { try ShardReader(path: path) }
        _ = try ShardWriter.write((0..<20).map { Self.record($0) }, kind: .triplets, resolution: Self.s, to: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count * 2 / 3).write(to: URL(fileURLWithPath: path))
        do {
            _ = try ShardReader(path: path)
            Issue.record("a truncated shard opened")
        } catch {
            #expect(error.file == path, "\(error)")
        }
    }

    @Test func wrongImageSizeIsRejectedBeforeWriting() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.url.appendingPathComponent("shard.h5").path
        var r = Self.record(0)
        r.styleReference = [1, 2, 3]
        #expect(throws: TripletDataError(file: path, dataset: "style_reference",
                                         "record 0 (sample 1000) has 3 bytes, expected 4x4x3 = 48")) {
            try ShardWriter.write([r], kind: .triplets, resolution: Self.s, to: path)
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func manifestRoundTripsAndRejectsBadOnes() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = Manifest.path(in: dir.path)
        var m = Manifest(kind: .pairs, resolution: 64, shards: [ShardInfo(file: "a.h5", count: 3, firstSampleID: 0, checksums: ["x": "1"])],
                         createdBy: "test", notes: ["seed": "7"])
        m.excluded = [1]
        try m.write(to: path)
        #expect(try Manifest.read(path) == m)
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains("\"format_version\" : 1"))
        m.excluded = [3]
        try m.write(to: path)
        #expect(throws: TripletDataError(file: path, dataset: "excluded", "index 3 outside the set's 3 samples")) { try Manifest.read(path) }
        try "{}".write(toFile: path, atomically: true, encoding: .utf8)
        do { _ = try Manifest.read(path); Issue.record("read {}") } catch { #expect("\(error)".hasPrefix("\(path): not a valid manifest")) }
    }
}
