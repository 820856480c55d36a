import Foundation
import Testing
import SynthWorld
import TripletData
import USOModel
import USOTestSupport

/// The built-in world: enough distinct subjects and styles, the experts' rules (a subject
/// never in its own style reference, held-out ids never in training data, the shifted ratio),
/// prompts in the text encoder's words, and determinism by sample id.
struct WorldTests {
    static func world(_ configure: (inout WorldConfig) -> Void = { _ in }) throws -> World {
        var c = WorldConfig()
        c.resolution = 32
        c.triplets = 400; c.pairs = 100; c.styleImages = 100
        configure(&c)
        return try World(c)
    }

    @Test func subjectsAndStylesAreDistinct() throws {
        let w = try Self.world()
        #expect(w.subjects.count == 40 && w.styles.count == 40)
        #expect(Set(w.subjects.map { "\($0.family) \($0.primary) \($0.pattern)" }).count == 40)
        #expect(Set(w.styles.map(\.name)).count == 40)
        #expect(Set(w.subjects.map(\.family)).count == ShapeFamily.allCases.count, "every shape family is used")
        #expect(Set(w.styles.map(\.medium)).count == Medium.allCases.count, "every medium is used")
    }

    @Test func expertsFollowTheRules() throws {
        let w = try Self.world()
        var shifted = 0, eval = 0
        for id in 0..<400 {
            let p = w.tripletPlan(Int64(id))
            #expect(p.styleReferenceSubject != p.subject, "triplet \(id): the subject is in its own style reference")
            if p.eval {
                eval += 1
                #expect(!w.config.trainSubjects.contains(p.subject) || !w.config.trainStyles.contains(p.style),
                        "eval triplet \(id) uses no held-out subject or style")
            } else {
                #expect(w.config.trainSubjects.contains(p.subject) && w.config.trainStyles.contains(p.style))
                #expect(w.config.trainSubjects.contains(p.styleReferenceSubject), "triplet \(id) shows a held-out subject in training")
            }
            if p.shifted {
                shifted += 1
                #expect(p.contentLayout != p.layout)
            } else {
                #expect(p.contentLayout == p.layout)
            }
        }
        #expect(abs(Double(shifted) / 400 - 0.5) < 0.1, "shifted \(shifted) of 400")
        #expect(abs(Double(eval) / 400 - 0.1) < 0.05, "eval \(eval) of 400")
    }

    @Test func shiftedRatioIsHonoured() throws {
        let none = try Self.world { $0.shiftedRatio = 0 }
        let all = try Self.world { $0.shiftedRatio = 1 }
        #expect((0..<100).allSatisfy { !none.tripletPlan(Int64($0)).shifted })
        #expect((0..<100).allSatisfy { all.tripletPlan(Int64($0)).shifted })
    }

    @Test func recordsAreAPureFunctionOfSeedAndID() throws {
        let a = try Self.world(), b = try Self.world()
        for id: Int64 in [0, 17, 399] {
            #expect(a.triplet(id) == b.triplet(id))
            #expect(a.pair(id) == b.pair(id))
        }
        #expect(a.triplet(3) != a.triplet(4))
        let other = try Self.world { $0.seed = 8 }
        #expect(other.triplet(3) != a.triplet(3))
        let r = a.triplet(5)
        #expect(r.target.count == 32 * 32 * 3 && r.styleReference?.count == 32 * 32 * 3 && r.contentReference?.count == 32 * 32 * 3)
        #expect(r.target != r.styleReference && r.target != r.contentReference)
    }

    @Test func promptsUseTheTextEncodersWords() throws {
        let w = try Self.world()
        for id in 0..<200 {
            let p = w.tripletPlan(Int64(id)), r = w.triplet(Int64(id))
            #expect(r.prompt.contains(w.styles[p.style].name) && r.prompt.contains(w.subjects[p.subject].family.noun), "\(r.prompt)")
            for prompt in [r.prompt, w.pair(Int64(id)).prompt, w.styleImage(Int64(id)).prompt] {
                #expect(!Vocabulary.builtIn.ids(for: prompt).contains(Vocabulary.unknownID), "a word of \"\(prompt)\" is not in the vocabulary")
            }
        }
        #expect(w.pair(0).prompt.hasPrefix("a "))
        #expect(w.styleImage(0).prompt.hasSuffix(" style"))
    }

    @Test func synthesisPlanSharesShardsRoundRobin() {
        let plan = SynthesisPlan(kind: .triplets, count: 1000, shardSize: 256)
        #expect(plan.shardCount == 4)
        #expect(plan.ids(ofShard: 3) == 768..<1000)
        #expect(plan.shards(forRank: 1, of: 3) == [1])
        #expect(plan.shards(forRank: 0, of: 3) == [0, 3])
        #expect(plan.fileName(ofShard: 3) == "triplets-00003.h5")
        let all = (0..<3).flatMap { plan.shards(forRank: $0, of: 3) }.sorted()
        #expect(all == [0, 1, 2, 3])
    }

    @Test func badOptionsNameTheOption() {
        var c = WorldConfig()
        c.heldOutSubjects = 39
        #expect(throws: TripletDataError(file: "<synth options>", dataset: "held-out-subjects", "must leave at least 2 training subjects")) {
            try c.validate()
        }
    }
}
