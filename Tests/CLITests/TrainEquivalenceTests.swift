import Foundation
import SafeTensors
import Testing
import USOTestSupport

/// Data parallelism changes nothing but the speed: one rank with 4 micro-batches, 4 ranks
/// with one each, and 2 ranks with 2 each (under every sync strategy: overlap, single,
/// after_backward) give the same per-step losses, the same gradient norms before clipping,
/// and the same final trainable weights, because every sample's randomness is keyed by its
/// id. Losses alone would not do: under AdamW and clipping a gradient off by a constant
/// factor (divided twice by the world size, say) leaves the losses unchanged; the norm
/// before clipping sees it.
@Suite(.serialized)
struct TrainEquivalenceTests {
    let uso = MPIRun.executable("uso")

    /// Per-step loss and gradient norm of a run.
    struct Record {
        var losses: [Double] = []
        var norms: [Double] = []
        var weights: [String: [Float]] = [:]
    }

    static func metrics(_ run: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: "\(run)/metrics.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    /// The run's metrics and the trainable groups' final weights (`files` in its weights/).
    static func record(_ run: String, files: [String]) throws -> Record {
        var r = Record()
        for m in try metrics(run) {
            r.losses.append(m["loss"] as! Double)
            r.norms.append(m["grad_norm"] as! Double)
        }
        for f in files {
            let file = try SafeTensorsFile(path: "\(run)/weights/\(f)")
            for name in file.names { r.weights["\(f):\(name)"] = try file.read(name) }
        }
        return r
    }

    /// Float32 sums in another order: losses and norms within 1e-5 relative; final weights
    /// (10 AdamW steps, each moving a weight by up to lr = 1e-3) within 2e-6 absolute + 1e-4
    /// relative, about 1/500 of one step's move.
    static let weightTolerance = Tolerance(absolute: 2e-6, relative: 1e-4)

    /// Compares `b` against the reference `a`, every difference said.
    static func expectSame(_ a: Record, _ b: Record, _ what: String) {
        #expect(a.losses.count == b.losses.count && a.norms.count == b.norms.count, "\(what): step counts differ")
        for i in 0..<min(a.losses.count, b.losses.count) {
            #expect(abs(a.losses[i] - b.losses[i]) <= 1e-5 * abs(a.losses[i]), "\(what), step \(i): loss \(b.losses[i]) vs \(a.losses[i])")
            #expect(abs(a.norms[i] - b.norms[i]) <= 1e-5 * abs(a.norms[i]),
                    "\(what), step \(i): gradient norm before clipping \(b.norms[i]) vs \(a.norms[i])")
        }
        #expect(Set(a.weights.keys) == Set(b.weights.keys) && !a.weights.isEmpty, "\(what): weight names differ")
        var failed: [String] = []
        for (name, wa) in a.weights.sorted(by: { $0.key < $1.key }) {
            guard let wb = b.weights[name] else { continue }
            let c = Approx.compare(wb, wa, weightTolerance, name)
            if !c.passed { failed.append("\(c)") }
        }
        #expect(failed.isEmpty, "\(what): final weights differ:\n\(failed.prefix(5).joined(separator: "\n"))")
    }

    func config(_ dir: TemporaryDirectory, name: String, data: String, stage: String, initWeights: String, strategy: String) throws -> String {
        try dir.write("\(name).toml", """
            [run]
            stage = "\(stage)"
            preset = "tiny"
            out = "\(dir.path)/\(name)"
            steps = 10
            seed = 3
            checksum_every = 5
            init_weights = "\(initWeights)"
            [data]
            path = "\(data)"
            global_batch = 4
            micro_batch = 1
            [optim]
            lr = 1e-3
            grad_clip = 1.0
            [sync]
            bucket_mib = 0.01
            strategy = "\(strategy)"
            """)
    }

    /// Stage base from random weights, then stage uso from the base run's weights (a random
    /// base has a zero-initialised final layer, through which no gradient reaches the LoRA
    /// or the projector: uso from it would compare zeros).
    @Test func oneFourAndTwoRanksGiveTheSameGradientsAndWeights() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", "\(dir.path)/data", "--resolution", "32",
                                                  "--triplets", "64", "--pairs", "64", "--style-images", "8"])
        #expect(made.exitCode == 0, "\(made.transcript)")
        for stage in ["base", "uso"] {
            let data = "\(dir.path)/data/\(stage == "uso" ? "triplets" : "pairs")"
            let files = stage == "uso" ? ["dit_lora.safetensors", "projector.safetensors"] : ["base.safetensors"]
            let initWeights = stage == "uso" ? "\(dir.path)/base-one/weights" : "random"
            // (name, ranks, sync strategy): 1 x 4 micro-batches, 4 x 1, 2 x 2 under each strategy.
            let runs: [(String, Int, String)] = [("one", 1, "overlap"), ("four", 4, "overlap"), ("two-after", 2, "after_backward"),
                                                 ("two-single", 2, "single"), ("two-overlap", 2, "overlap")]
            var records: [String: Record] = [:]
            for (name, np, strategy) in runs {
                let cfg = try config(dir, name: "\(stage)-\(name)", data: data, stage: stage, initWeights: initWeights, strategy: strategy)
                let job = try MPIRun.run(np: np, uso, ["train", "--config", cfg, "--progress", "none"], timeout: 300)
                try #require(job.exitCode == 0, "\(stage) \(name): \(job.transcript)")
                records[name] = try Self.record("\(dir.path)/\(stage)-\(name)", files: files)
            }
            let one = try #require(records["one"])
            #expect(one.losses.count == 10 && Set(one.losses).count > 5, "\(stage): the losses change from step to step: \(one.losses)")
            #expect(one.norms.allSatisfy { $0 > 1e-6 }, "\(stage): every step has a gradient: \(one.norms)")
            for (name, _, _) in runs.dropFirst() { Self.expectSame(one, try #require(records[name]), "\(stage) \(name) vs one rank") }
        }
    }

    /// Stage csd's supervised-contrastive loss over the global batch (`csd.loss_over =
    /// "global_batch"`, embeddings allgathered, each trainer's rows back-propagated where they
    /// were computed): one rank with 4 micro-batches, 2 ranks with one each and 3 ranks with
    /// uneven slices (3, 3, 2) and micro-batches of one give the same losses, gradient norms and
    /// final weights. A loss per micro-batch could not: its positives depend on the split.
    /// Grouped batches (`csd.images_per_style = 4`) give every step positives, so no step has
    /// a zero loss or gradient.
    @Test func csdLossOverTheGlobalBatchIsTheSameAtOneTwoAndThreeTrainers() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", "\(dir.path)/data", "--resolution", "32",
                                                  "--triplets", "8", "--pairs", "8", "--style-images", "240"])
        #expect(made.exitCode == 0, "\(made.transcript)")
        let runs: [(String, Int, Int)] = [("one", 1, 2), ("two", 2, 0), ("three", 3, 1)]
        var records: [String: Record] = [:]
        for (name, np, micro) in runs {
            let cfg = try dir.write("csd-\(name).toml", """
                [run]
                stage = "csd"
                preset = "tiny"
                out = "\(dir.path)/csd-\(name)"
                steps = 8
                seed = 5
                [data]
                path = "\(dir.path)/data/styles"
                global_batch = 8
                micro_batch = \(micro)
                [optim]
                lr = 1e-3
                grad_clip = 1.0
                [csd]
                temperature = 0.1
                images_per_style = 4
                """)
            let job = try MPIRun.run(np: np, uso, ["train", "--config", cfg, "--progress", "none"], timeout: 300)
            try #require(job.exitCode == 0, "csd \(name): \(job.transcript)")
            var r = try Self.record("\(dir.path)/csd-\(name)", files: ["csd.safetensors"])
            // Attention's key biases get a zero gradient by structure (softmax ignores a shift
            // common to a row; CSDGradientTests checks it is zero): what reaches AdamW is float
            // rounding, which it normalises into steps of about lr in its sign. Not compared.
            r.weights = r.weights.filter { !$0.key.hasSuffix("k_proj.bias") }
            records[name] = r
        }
        let one = try #require(records["one"])
        #expect(one.losses.count == 8 && one.losses.allSatisfy { $0 > 0.01 }, "csd: every step has positives: \(one.losses)")
        #expect(one.norms.allSatisfy { $0 > 1e-6 }, "csd: every step has a gradient: \(one.norms)")
        for (name, _, _) in runs.dropFirst() { Self.expectSame(one, try #require(records[name]), "csd \(name) vs one rank") }
    }

    /// ZeRO-1 (`optim.shard_state`) changes where AdamW's state lives, not the training: at
    /// 2, 3 and 4 trainers, 20 steps of stage base give the unsharded run's losses and gradient
    /// norms within 1e-5 relative and its final weights within the equivalence tolerance;
    /// each trainer holds its slice of the moments (the metrics' optimizer_state_bytes, about
    /// 1 / trainers of the whole, summing to it), and the checkpoint holds one optimizer shard
    /// per trainer, which the safetensors package reassembles, every shard's CRC-32 checked.
    @Test func shardedOptimizerStateTrainsTheSameAtTwoThreeAndFourTrainers() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", "\(dir.path)/data", "--resolution", "32",
                                                  "--triplets", "8", "--pairs", "48", "--style-images", "8"])
        #expect(made.exitCode == 0, "\(made.transcript)")
        for np in [2, 3, 4] {
            var records: [Bool: Record] = [:]
            for sharded in [false, true] {
                let name = "p\(np)-\(sharded ? "sharded" : "whole")"
                let cfg = try config(dir, name: name, data: "\(dir.path)/data/pairs", stage: "base", initWeights: "random", strategy: "overlap")
                let job = try MPIRun.run(np: np, uso, ["train", "--config", cfg, "--progress", "none", "--steps", "20", "--set", "run.save_every=10",
                                                       "--set", "optim.shard_state=\(sharded)"], timeout: 300)
                try #require(job.exitCode == 0, "\(name): \(job.transcript)")
                records[sharded] = try Self.record("\(dir.path)/\(name)", files: ["base.safetensors"])
                let last = try #require(try Self.metrics("\(dir.path)/\(name)").last)
                let bytes = try #require(last["optimizer_state_bytes"] as? [Int], "\(name): no optimizer_state_bytes on the last line")
                #expect(bytes.count == np, "\(name): \(bytes)")
                if sharded {
                    let whole = try #require(records[false]?.weights.values.reduce(0) { $0 + $1.count }) * 8
                    #expect(bytes.reduce(0, +) == whole, "\(name): the slices' moments sum to the whole's \(whole) bytes: \(bytes)")
                    #expect(bytes.allSatisfy { abs($0 - whole / np) <= 8 }, "\(name): each trainer holds 1/\(np) of \(whole) bytes: \(bytes)")
                } else {
                    #expect(Set(bytes).count == 1, "\(name): every trainer holds the whole state: \(bytes)")
                }
                if sharded {
                    let step = "\(dir.path)/\(name)/checkpoints/step_00000020"
                    let files = try FileManager.default.contentsOfDirectory(atPath: step).filter { $0.hasPrefix("optimizer") }.sorted()
                    #expect(files == (0..<np).map { String(format: "optimizer.trainer_%02d.safetensors", $0) }, "\(files)")
                    let check = try Python.run("""
                        import json, sys, zlib
                        import numpy as np
                        from safetensors.numpy import load_file
                        folder = sys.argv[1]
                        meta = json.load(open(folder + "/metadata.json"))
                        files, owners = {}, set()
                        for t in meta["tensors"]:
                            parts = []
                            for s in sorted(t["shards"], key=lambda s: s["lower"]):
                                name = s.get("file", t["file"])
                                a = files.setdefault(name, load_file(folder + "/" + name))[t["name"]].reshape(-1)
                                assert a.size == s["upper"] - s["lower"], t["name"]
                                assert "%08x" % zlib.crc32(a.astype("<f4").tobytes()) == s["crc32"], (t["name"], s)
                                parts.append(a)
                                owners.add(s["trainer"])
                            whole = np.concatenate(parts)
                            assert whole.size == int(np.prod(t["shape"])), t["name"]
                        assert json.load(open(folder + "/state.json"))["optimizer_shards"] == int(sys.argv[2])
                        print(len(owners))
                        """, [step, String(np)])
                    #expect(check.exitCode == 0 && check.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == String(np), "\(check.transcript)")
                }
            }
            Self.expectSame(try #require(records[false]), try #require(records[true]), "\(np) trainers, sharded vs whole")
        }
    }
}
