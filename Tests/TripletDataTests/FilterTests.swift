import Foundation
import Testing
import SynthWorld
import TripletData
import USOModel
import USOTestSupport

/// The training-free scorer separates matched from mismatched references, and the filter
/// writes a manifest that excludes what fails without touching the shards.
@Suite(.serialized)
struct FilterTests {
    static func scorer() throws -> EncoderScorer {
        let model = try USOModel(config: ModelPreset.tiny.config)
        model.allocate(seed: 3)
        return EncoderScorer(model: model)
    }

    @Test func matchedReferencesScoreHigherThanMismatched() throws {
        var c = WorldConfig()
        c.resolution = 32
        let world = try World(c)
        let scorer = try Self.scorer()
        var matchedStyle = 0.0, otherStyle = 0.0, matchedSubject = 0.0, otherSubject = 0.0, n = 0.0
        for id in 0..<60 {
            let a = world.triplet(Int64(id)), b = world.triplet(Int64(id + 1000))
            guard a.styleID != b.styleID, a.subjectID != b.subjectID else { continue }
            matchedStyle += scorer.styleSimilarity(styleReference: a.styleReference!, target: a.target, resolution: 32)
            otherStyle += scorer.styleSimilarity(styleReference: b.styleReference!, target: a.target, resolution: 32)
            matchedSubject += scorer.subjectConsistency(contentReference: a.contentReference!, target: a.target, resolution: 32)
            otherSubject += scorer.subjectConsistency(contentReference: b.contentReference!, target: a.target, resolution: 32)
            n += 1
        }
        #expect(n > 40)
        #expect(matchedStyle / n > otherStyle / n + 0.02, "style: matched \(matchedStyle / n), mismatched \(otherStyle / n)")
        #expect(matchedSubject / n > otherSubject / n, "subject: matched \(matchedSubject / n), mismatched \(otherSubject / n)")
    }

    @Test func filterExcludesFailuresInANewManifest() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var c = WorldConfig()
        c.resolution = 32; c.triplets = 80
        let world = try World(c)
        let plan = SynthesisPlan(kind: .triplets, count: 80, shardSize: 32)
        let infos = try (0..<plan.shardCount).map { try WorldSynthesis.writeShard(world, plan, shard: $0, folder: dir.path) }
        let manifestPath = Manifest.path(in: dir.path)
        try WorldSynthesis.manifest(world, plan, shards: infos, createdBy: "test").write(to: manifestPath)
        let before = try Data(contentsOf: URL(fileURLWithPath: dir.url.appendingPathComponent(infos[0].file).path))
        let out = dir.url.appendingPathComponent("manifest.filtered.json").path
        // Thresholds at the medians: about half fail each test.
        let probe = try TripletFilter(tauStyle: -2, tauSubject: -2).run(manifestPath: manifestPath, scorer: try Self.scorer(), output: out)
        #expect(probe.kept == 80 && probe.styleScores.count == 80)
        let ms = probe.styleScores.sorted()[40], mc = probe.subjectScores.sorted()[40]
        let report = try TripletFilter(tauStyle: ms, tauSubject: mc).run(manifestPath: manifestPath, scorer: try Self.scorer(), output: out)
        #expect(report.failedStyle == 40 && report.failedSubject == 40)
        #expect(report.kept == 80 - (report.failedStyle + report.failedSubject - report.failedBoth))
        let filtered = try SampleIndex(manifestPath: out)
        #expect(filtered.count == report.kept)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.url.appendingPathComponent(infos[0].file).path)) == before, "shards untouched")
        #expect(try SampleIndex(manifestPath: manifestPath).count == 80, "the original manifest untouched")
    }
}
