import Foundation
import ImageIO
import Testing
import TripletData
import USOTestSupport

/// Importing UNO's format: PNG and JPEG in, resized, references in the right places; bad
/// entries named by index and path, or skipped and counted.
@Suite(.serialized)
struct UNOImportTests {
    /// A 40 x 30 image, a vertical gradient in one channel: the centre square crop of it is known.
    static func image(_ channel: Int) -> RGBImage {
        var img = RGBImage(width: 40, height: 30, fill: (0, 0, 0))
        for y in 0..<30 { for x in 0..<40 { img.pixels[(y * 40 + x) * 3 + channel] = UInt8(y * 8) } }
        return img
    }

    func makeSource(_ dir: TemporaryDirectory, entries: String) throws -> String {
        try FileManager.default.createDirectory(at: dir.url.appendingPathComponent("img"), withIntermediateDirectories: true)
        try ImageFiles.writePNG(Self.image(0), to: dir.url.appendingPathComponent("img/content.png").path)
        try ImageFiles.writePNG(Self.image(2), to: dir.url.appendingPathComponent("img/style.png").path)
        try ImageFiles.writeJPEG(Self.image(1), to: dir.url.appendingPathComponent("img/target.jpg").path, quality: 100)
        try Data("not an image".utf8).write(to: dir.url.appendingPathComponent("img/broken.png"))
        return try dir.write("train.json", entries)
    }

    static let good = #"{"prompt": "a cat in ink style", "image_paths": ["img/content.png", "img/style.png"], "image_tgt_path": "img/target.jpg"}"#
    static let subjectOnly = #"{"prompt": "the same cat", "image_paths": ["img/content.png"], "image_tgt_path": "img/target.jpg"}"#
    static let multiStyle = #"{"prompt": "two styles", "image_paths": ["img/content.png", "img/style.png", "img/style.png"], "image_tgt_path": "img/target.jpg"}"#
    static let missing = #"{"prompt": "gone", "image_paths": ["img/nope.png"], "image_tgt_path": "img/target.jpg"}"#
    static let broken = #"{"prompt": "broken", "image_paths": ["img/broken.png"], "image_tgt_path": "img/target.jpg"}"#
    static let malformed = #"{"prompt": 3}"#

    @Test func importsPNGAndJPEGWithReferencesInPlace() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let json = try makeSource(dir, entries: "[\(Self.good), \(Self.subjectOnly), \(Self.multiStyle)]")
        let out = dir.url.appendingPathComponent("set").path
        let report = try UNOImporter(jsonPath: json, resolution: 10, shardSize: 2).run(into: out)
        #expect(report.imported == 3 && report.shards == 2 && report.extraStyleImages == 1 && report.skipped.isEmpty)
        let index = try SampleIndex(manifestPath: Manifest.path(in: out))
        #expect(index.count == 3)
        let r0 = try ShardReader(path: index.manifest.shardPath(0, manifestPath: index.manifestPath))
        let first = try r0.record(0), second = try r0.record(1)
        #expect(first.prompt == "a cat in ink style" && second.styleReference == nil && second.contentReference != nil)
        // The content reference is red (channel 0), the style blue (2), the target green (1, via JPEG).
        func channelMeans(_ px: [UInt8]) -> [Double] {
            (0..<3).map { c in stride(from: c, to: px.count, by: 3).reduce(0.0) { $0 + Double(px[$1]) } / Double(px.count / 3) }
        }
        let c = channelMeans(first.contentReference!), s = channelMeans(first.styleReference!), t = channelMeans(first.target)
        #expect(c[0] > 100 && c[1] < 2 && c[2] < 2, "\(c)")
        #expect(s[2] > 100 && s[0] < 2, "\(s)")
        #expect(t[1] > 100 && t[0] < 8 && t[2] < 8, "\(t)")
        // Resizing a 30-row gradient to 10 rows averages groups of 3 rows: row 0 holds rows 0-2 -> 8.
        #expect(first.contentReference![0] == 8, "\(first.contentReference![0])")
    }

    @Test func badEntryStopsWithIndexAndPathUnlessSkipped() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let json = try makeSource(dir, entries: "[\(Self.good), \(Self.missing), \(Self.broken), \(Self.malformed), \(Self.good)]")
        let out = dir.url.appendingPathComponent("set").path
        do {
            _ = try UNOImporter(jsonPath: json, resolution: 8).run(into: out)
            Issue.record("imported a missing image")
        } catch {
            #expect(error.file == json && error.dataset == "entry 1", "\(error)")
            #expect(error.message.contains("img/nope.png") && error.message.contains("cannot open"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: Manifest.path(in: out)), "no manifest after a failed import")
        let report = try UNOImporter(jsonPath: json, resolution: 8, skipBad: true).run(into: out)
        #expect(report.imported == 2)
        #expect(report.skipped.map(\.index) == [1, 2, 3])
        #expect(report.skipped[1].reason.contains("broken.png") && report.skipped[1].reason.contains("not a PNG, JPEG or WebP file"))
        #expect(report.skipped[2].reason.contains("needs \"prompt\""))
        // A second import into the same folder refuses instead of overwriting.
        #expect(throws: TripletDataError.self) { try UNOImporter(jsonPath: json, resolution: 8).run(into: out) }
    }

    /// USO's own examples are mostly WebP: a set mixing WebP (lossy and lossless, with alpha),
    /// RGBA PNG and JPEG with EXIF imports, and every stored pixel is what Pillow decodes
    /// (`convert("RGB")`, alpha dropped): exactly for PNG and lossless WebP, within 3 levels
    /// for the lossy codecs (Pillow bundles its own libjpeg-turbo and libwebp builds).
    @Test func importsWebPPNGAndJPEGAsPillowDecodesThem() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let made = try Python.run("""
            import sys, json, numpy as np
            from PIL import Image
            d = sys.argv[1]
            rng = np.random.default_rng(5)
            def img(mode):
                n = 4 if mode == "RGBA" else 3
                a = rng.integers(0, 256, (16, 16, n), dtype=np.uint8)
                a[4:12, 4:12, :3] = [200, 30, 90]          # a flat block, so lossy codecs keep something exact-ish
                if n == 4: a[..., 3] = np.where(np.arange(16)[:, None] < 8, 255, 40)   # half opaque, half not
                return Image.fromarray(a, mode)
            img("RGBA").save(d + "/content.webp", lossless=True)
            img("RGBA").save(d + "/style.png")
            img("RGB").save(d + "/target.webp", quality=90)
            exif = Image.Exif(); exif[0x0112] = 1; exif[0x010F] = "uso-test"
            img("RGB").save(d + "/target.jpg", quality=95, exif=exif.tobytes())
            entries = [{"prompt": "webp content, png style", "image_paths": ["content.webp", "style.png"], "image_tgt_path": "target.webp"},
                       {"prompt": "jpeg target", "image_paths": ["style.png", "content.webp"], "image_tgt_path": "target.jpg"}]
            json.dump(entries, open(d + "/train.json", "w"))
            print("OK")
            """, [dir.path])
        try #require(made.exitCode == 0 && made.stdout == "OK\n", "\(made.transcript)")
        let out = dir.url.appendingPathComponent("set").path
        let report = try UNOImporter(jsonPath: "\(dir.path)/train.json", resolution: 16).run(into: out)
        #expect(report.imported == 2 && report.skipped.isEmpty)
        let shard = try Manifest.read(Manifest.path(in: out)).shardPath(0, manifestPath: Manifest.path(in: out))
        let check = try Python.run("""
            import sys, h5py, numpy as np
            from PIL import Image
            d, shard = sys.argv[1], sys.argv[2]
            def pil(name): return np.asarray(Image.open(d + "/" + name).convert("RGB"))
            expected = [("content_reference", 0, "content.webp", 0), ("style_reference", 0, "style.png", 0), ("target", 0, "target.webp", 3),
                        ("content_reference", 1, "style.png", 0), ("style_reference", 1, "content.webp", 0), ("target", 1, "target.jpg", 3)]
            with h5py.File(shard, "r") as f:
                for dataset, row, name, tolerance in expected:
                    got = f[dataset][row].astype(int); want = pil(name).astype(int)
                    diff = int(np.abs(got - want).max())
                    assert diff <= tolerance, f"{dataset}[{row}] from {name}: max difference {diff} > {tolerance}"
                    print(dataset, row, name, diff)
            print("OK")
            """, [dir.path, shard])
        #expect(check.exitCode == 0 && check.stdout.hasSuffix("OK\n"), "\(check.transcript)")
        // Alpha dropped, not composited: the translucent rows keep their stored colours.
        let webp = try ImageFiles.read("\(dir.path)/content.webp")
        #expect(webp.width == 16 && webp.height == 16)
        #expect(try ImageFiles.format(of: "\(dir.path)/content.webp") == .webp && ImageFiles.format(of: "\(dir.path)/style.png") == .png)
    }
}
