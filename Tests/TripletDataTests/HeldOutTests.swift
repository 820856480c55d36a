import Foundation
import Testing
import TripletData
import USOTestSupport

/// Held-out stays held out: a training index holds train rows only, so at 1 and 3 trainers no
/// eval sample, and no held-out subject or style, ever reaches a trainer's loader; an
/// evaluation index holds eval rows only; a set without the split asked for is refused.
@Suite(.serialized)
struct HeldOutTests {
    static func synth(_ dir: TemporaryDirectory) throws -> String {
        let out = "\(dir.path)/data"
        let uso = MPIRun.executable("uso")
        let job = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", out, "--resolution", "32", "--triplets", "96",
                                                 "--pairs", "16", "--style-images", "16", "--shard-size", "32"])
        try #require(job.exitCode == 0, "\(job.transcript)")
        return out
    }

    /// Sample ids of every row of `split` in the set, and the held-out subject and style ids of world.json.
    static func facts(_ manifestPath: String) throws -> (eval: Set<Int64>, train: Set<Int64>) {
        let m = try Manifest.read(manifestPath)
        var eval = Set<Int64>(), train = Set<Int64>()
        for i in m.shards.indices {
            let r = try ShardReader(path: m.shardPath(i, manifestPath: manifestPath))
            for j in 0..<r.count {
                if r.splits[j] == .eval { eval.insert(r.sampleIDs[j]) } else { train.insert(r.sampleIDs[j]) }
            }
        }
        return (eval, train)
    }

    @Test(arguments: [1, 3])
    func noHeldOutSampleReachesATrainer(trainers: Int) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let manifest = Manifest.path(in: "\(try Self.synth(dir))/triplets")
        let (eval, train) = try Self.facts(manifest)
        try #require(!eval.isEmpty && !train.isEmpty, "the synthesised set should hold both splits")
        let heldOutSubjects = Set(Int32(36)..<40), heldOutStyles = Set(Int32(36)..<40)   // uso data synth's defaults (world.json)
        let index = try SampleIndex(manifestPath: manifest, split: .train)
        #expect(index.count == train.count)
        let plan = ShardPlan(seed: 3, count: index.count, globalBatch: 6)
        var seen = Set<Int64>()
        for t in 0..<trainers {
            let loader = DataLoader(index: index, plan: plan, trainer: t, trainers: trainers, seed: 3, depth: 1)
            loader.start()
            for _ in 0..<(2 * plan.stepsPerEpoch) {   // two epochs
                for s in try loader.next().samples {
                    #expect(!eval.contains(s.sampleID), "trainer \(t) read eval sample \(s.sampleID)")
                    #expect(s.split == .train, "trainer \(t) read a row of split \(s.split)")
                    #expect(!heldOutSubjects.contains(s.subjectID), "trainer \(t) read held-out subject \(s.subjectID)")
                    #expect(!heldOutStyles.contains(s.styleID), "trainer \(t) read held-out style \(s.styleID)")
                    seen.insert(s.sampleID)
                }
            }
            loader.stop()
        }
        #expect(seen == train, "every train sample, and only those, is read")
        let evalIndex = try SampleIndex(manifestPath: manifest, split: .eval)
        #expect(evalIndex.count == eval.count)
    }

    @Test func aSetWithoutTheSplitIsRefused() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try ShardPlanTests.makeSet(dir, count: 12, shardSize: 4)   // every row train
        #expect(try SampleIndex(manifestPath: path, split: .train).count == 12)
        do {
            _ = try SampleIndex(manifestPath: path, split: .eval)
            Issue.record("a set without eval rows gave an evaluation index")
        } catch {
            #expect("\(error)".contains(path) && "\(error)".contains("has no eval rows (12 train, 0 eval)"), "\(error)")
        }
    }
}
