import Foundation
import Testing
import USOTestSupport

/// `uso data synth`, `inspect` and `sheet` as users run them.
@Suite(.serialized)
struct DataCommandTests {
    let uso = MPIRun.executable("uso")
    static let small = ["--resolution", "32", "--triplets", "300", "--pairs", "70", "--style-images", "50", "--shard-size", "64"]

    func manifest(_ dir: String, _ set: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(set)/manifest.json"))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    func checksums(_ m: [String: Any]) -> [String] {
        (m["shards"] as! [[String: Any]]).map { "\($0["file"]!) \(($0["checksums"] as! [String: String]).sorted { $0.key < $1.key })" }
    }

    @Test func sameFilesAtOneAndThreeRanks() throws {
        let a = try TemporaryDirectory(), b = try TemporaryDirectory()
        defer { a.remove(); b.remove() }
        let one = try MPIRun.run(np: 1, uso, ["data", "synth", "--out", a.path] + Self.small, timeout: 120)
        #expect(one.exitCode == 0, "\(one.transcript)")
        let three = try MPIRun.run(np: 3, uso, ["data", "synth", "--out", b.path] + Self.small, timeout: 120)
        #expect(three.exitCode == 0, "\(three.transcript)")
        #expect(three.stdout.contains("3 rank(s)") && three.stdout.contains("triplets: 300 samples in 5 shards"), "\(three.stdout)")
        for set in ["triplets", "pairs", "styles"] {
            let ma = try manifest(a.path, set), mb = try manifest(b.path, set)
            #expect(checksums(ma) == checksums(mb), "\(set) differs between 1 and 3 ranks")
            #expect((ma["format"] as? String) == "uso-shard-set")
        }
        #expect(FileManager.default.fileExists(atPath: "\(a.path)/world.json"))
        let leftovers = try FileManager.default.subpathsOfDirectory(atPath: b.path).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test func inspectCountsAndCatchesCorruption() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", dir.path] + Self.small)
        #expect(made.exitCode == 0, "\(made.transcript)")
        let ok = try MPIRun.runWithoutMPI(uso, ["data", "inspect", dir.path])
        #expect(ok.exitCode == 0, "\(ok.transcript)")
        #expect(ok.stdout.contains("samples: 300"))
        #expect(ok.stdout.contains("by layout: preserved"))
        #expect(ok.stdout.contains("checksums: all datasets of all 5 shard(s) verified"))
        // Flip bytes in the middle of a shard's image data.
        let shard = "\(dir.path)/triplets/triplets-00002.h5"
        var data = try Data(contentsOf: URL(fileURLWithPath: shard))
        for i in stride(from: data.count / 3, to: data.count / 3 + 64, by: 1) { data[i] ^= 0x5A }
        try data.write(to: URL(fileURLWithPath: shard))
        let bad = try MPIRun.runWithoutMPI(uso, ["data", "inspect", "\(dir.path)/triplets"])
        #expect(bad.exitCode != 0)
        #expect(bad.stderr.contains(shard) && (bad.stderr.contains("checksum mismatch") || bad.stderr.contains("HDF5")), "\(bad.transcript)")
    }

    @Test func sheetWritesAPNG() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", dir.path] + Self.small)
        let png = dir.url.appendingPathComponent("sheet.png").path
        let job = try MPIRun.runWithoutMPI(uso, ["data", "sheet", "\(dir.path)/triplets", "--out", png, "--count", "5"])
        #expect(job.exitCode == 0, "\(job.transcript)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: png))
        #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        // IHDR: width and height, big-endian, at bytes 16..<24: 3 columns of 64 px + padding.
        let width = bytes[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = bytes[20..<24].reduce(0) { $0 << 8 | Int($1) }
        #expect(width == 6 + 3 * (64 + 6), "width \(width)")
        #expect(height > 5 * 64)
    }

    @Test func filterAndLoaderBenchRunOnASynthesisedSet() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", dir.path] + Self.small)
        let filter = try MPIRun.runWithoutMPI(uso, ["data", "filter", "\(dir.path)/triplets", "--preset", "tiny",
                                                     "--tau-s", "0.9", "--tau-c", "0.2"])
        #expect(filter.exitCode == 0, "\(filter.transcript)")
        #expect(filter.stdout.contains("uso data filter: 300 triplets; kept"), "\(filter.stdout)")
        #expect(filter.stdout.contains("style similarity < 0.9: removed"))
        let filtered = "\(dir.path)/triplets/manifest.filtered.json"
        #expect(FileManager.default.fileExists(atPath: filtered))
        let inspect = try MPIRun.runWithoutMPI(uso, ["data", "inspect", filtered])
        #expect(inspect.exitCode == 0 && inspect.stdout.contains("excluded by the filter"), "\(inspect.transcript)")
        let bench = try MPIRun.runWithoutMPI(uso, ["bench", "loader", "\(dir.path)/triplets", "--preset", "tiny", "--steps", "3"],
                                             environment: ["OPENBLAS_NUM_THREADS": "1"])
        #expect(bench.exitCode == 0 && bench.stdout.contains("% of the step"), "\(bench.transcript)")
    }

    @Test func importReportsBadEntriesByIndex() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let json = try dir.write("uno.json", #"[{"prompt": "x", "image_paths": ["missing.png"], "image_tgt_path": "missing.jpg"}]"#)
        let failed = try MPIRun.runWithoutMPI(uso, ["data", "import", json, "--out", "\(dir.path)/set"])
        #expect(failed.exitCode != 0)
        #expect(failed.stderr.contains("\(json): entry 0:") && failed.stderr.contains("missing.jpg"), "\(failed.transcript)")
        let skipped = try MPIRun.runWithoutMPI(uso, ["data", "import", json, "--out", "\(dir.path)/set", "--skip-bad"])
        #expect(skipped.exitCode == 0 && skipped.stdout.contains("skipped 1 bad entry"), "\(skipped.transcript)")
    }
}
