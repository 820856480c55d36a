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
        #expect(report.skipped[1].reason.contains("broken.png") && report.skipped[1].reason.contains("neither a PNG nor a JPEG"))
        #expect(report.skipped[2].reason.contains("needs \"prompt\""))
        // A second import into the same folder refuses instead of overwriting.
        #expect(throws: TripletDataError.self) { try UNOImporter(jsonPath: json, resolution: 8).run(into: out) }
    }
}
