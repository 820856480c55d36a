import Foundation
import Testing
import USOTestSupport

/// Data parallelism changes nothing but the speed: one rank with 4 micro-batches, 4 ranks
/// with one each, and 2 ranks with 2 each give the same per-step losses (within 1e-5
/// relative over 10 steps), because every sample's randomness is keyed by its id.
@Suite(.serialized)
struct TrainEquivalenceTests {
    let uso = MPIRun.executable("uso")

    func losses(_ runs: String) throws -> [Double] {
        let text = try String(contentsOfFile: "\(runs)/metrics.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["loss"] as! Double
        }
    }

    func config(_ dir: TemporaryDirectory, name: String, data: String, micro: Int, stage: String = "uso", extra: String = "") throws -> String {
        try dir.write("\(name).toml", """
            [run]
            stage = "\(stage)"
            preset = "tiny"
            out = "\(dir.path)/\(name)"
            steps = 10
            seed = 3
            checksum_every = 5
            init_weights = "random"
            [data]
            path = "\(data)"
            global_batch = 4
            micro_batch = \(micro)
            [optim]
            lr = 1e-3
            [sync]
            bucket_mib = 0.01
            \(extra)
            """)
    }

    @Test(arguments: ["uso", "base"])
    func oneFourAndTwoRanksGiveTheSameLosses(stage: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", "\(dir.path)/data", "--resolution", "32",
                                                  "--triplets", "64", "--pairs", "64", "--style-images", "8"])
        #expect(made.exitCode == 0, "\(made.transcript)")
        let data = "\(dir.path)/data/\(stage == "uso" ? "triplets" : "pairs")"
        let one = try MPIRun.run(np: 1, uso, ["train", "--config", try config(dir, name: "one", data: data, micro: 1, stage: stage)], timeout: 300)
        #expect(one.exitCode == 0, "\(one.transcript)")
        let four = try MPIRun.run(np: 4, uso, ["train", "--config", try config(dir, name: "four", data: data, micro: 1, stage: stage)], timeout: 300)
        #expect(four.exitCode == 0, "\(four.transcript)")
        let two = try MPIRun.run(np: 2, uso, ["train", "--config", try config(dir, name: "two", data: data, micro: 1, stage: stage,
                                                                              extra: "strategy = \"after_backward\"")], timeout: 300)
        #expect(two.exitCode == 0, "\(two.transcript)")
        let a = try losses("\(dir.path)/one"), b = try losses("\(dir.path)/four"), c = try losses("\(dir.path)/two")
        #expect(a.count == 10 && b.count == 10 && c.count == 10)
        for i in 0..<min(a.count, b.count, c.count) {
            #expect(abs(a[i] - b[i]) <= 1e-5 * abs(a[i]), "step \(i): 1 rank \(a[i]), 4 ranks \(b[i])")
            #expect(abs(a[i] - c[i]) <= 1e-5 * abs(a[i]), "step \(i): 1 rank \(a[i]), 2 ranks \(c[i])")
        }
        #expect(Set(a).count > 5, "the losses change from step to step")
    }
}
