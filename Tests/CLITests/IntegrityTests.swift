import Foundation
import Testing
import USOTestSupport

/// Wrong data and weights, as a user can have them, stop `uso` with a message naming the
/// file, shard, tensor or key, never a trap: a swapped shard (train, inspect, sheet,
/// generate), missing init or resume weights, a NaN weight, a NaN gradient mid-run (the step
/// is skipped, names the tensor and changes nothing), a `--set` typo.
@Suite(.serialized)
struct IntegrityTests {
    let uso = MPIRun.executable("uso")

    func synth(_ dir: TemporaryDirectory) throws -> String {
        let out = "\(dir.path)/data"
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", out, "--resolution", "32", "--triplets", "48",
                                                  "--pairs", "16", "--style-images", "16", "--shard-size", "16"])
        try #require(made.exitCode == 0, "\(made.transcript)")
        return out
    }

    func config(_ dir: TemporaryDirectory, _ name: String, stage: String, data: String, steps: Int = 2, initWeights: String) throws -> String {
        try dir.write("\(name).toml", """
            [run]
            stage = "\(stage)"
            preset = "tiny"
            out = "\(dir.path)/\(name)"
            steps = \(steps)
            init_weights = "\(initWeights)"
            [data]
            path = "\(data)"
            global_batch = 2
            """)
    }

    func train(_ config: String, _ extra: [String] = [], environment: [String: String] = [:]) throws -> MPIRun.Outcome {
        try MPIRun.runWithoutMPI(uso, ["train", "--config", config, "--progress", "none"] + extra, environment: environment)
    }

    func failsNaming(_ job: MPIRun.Outcome, _ parts: [String], _ what: String) {
        #expect(job.exitCode != 0 && job.exitCode != MPIRun.timeoutExitCode, "\(what): \(job.transcript)")
        for p in parts { #expect(job.stderr.contains(p), "\(what): stderr lacks \"\(p)\": \(job.transcript)") }
        for trap in ["Fatal error", "Illegal instruction", "Optional(", "try!"] {
            #expect(!job.stderr.contains(trap), "\(what): \(trap) in \(job.transcript)")
        }
    }

    @Test func aSwappedShardStopsEveryCommandThatOpensTheSet() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = try synth(dir)
        let set = "\(data)/triplets", first = "\(set)/triplets-00000.h5"
        try FileManager.default.removeItem(atPath: first)
        try FileManager.default.copyItem(atPath: "\(set)/triplets-00001.h5", toPath: first)
        let named = [first, "holds sample ids 16...31", "the manifest says 0...15"]
        failsNaming(try MPIRun.runWithoutMPI(uso, ["data", "inspect", set]), named, "inspect")
        failsNaming(try MPIRun.runWithoutMPI(uso, ["data", "sheet", set, "--out", "\(dir.path)/s.png"]), named, "sheet")
        failsNaming(try train(try config(dir, "ae", stage: "autoencoder", data: set, initWeights: "")), named, "train")
        #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/ae/metrics.jsonl"), "nothing written by the refused run")
    }

    @Test func weightsAStageNeedsMustBeThere() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = try synth(dir)
        let ae = try train(try config(dir, "ae", stage: "autoencoder", data: "\(data)/triplets", initWeights: ""))
        try #require(ae.exitCode == 0, "\(ae.transcript)")
        let weights = "\(dir.path)/ae/weights"
        // Empty init weights: refused by base and uso, which start from trained weights.
        for stage in ["base", "uso"] {
            let set = stage == "base" ? "pairs" : "triplets"
            failsNaming(try train(try config(dir, "e-\(stage)", stage: stage, data: "\(data)/\(set)", initWeights: "")),
                        ["run.init_weights is empty, but stage \(stage) starts from trained weights", "\"random\""], "empty init, \(stage)")
        }
        // A folder without the autoencoder: base names the file.
        let partial = "\(dir.path)/partial"
        try FileManager.default.copyItem(atPath: weights, toPath: partial)
        try FileManager.default.removeItem(atPath: "\(partial)/autoencoder.safetensors")
        failsNaming(try train(try config(dir, "p", stage: "base", data: "\(data)/pairs", initWeights: partial)),
                    ["run.init_weights \(partial) holds no autoencoder.safetensors"], "no autoencoder")
        // A NaN inside a base weight: named by file, tensor and element before any step.
        let nan = "\(dir.path)/nan"
        try FileManager.default.copyItem(atPath: weights, toPath: nan)
        let poke = try Python.run("""
            import sys
            from safetensors.numpy import load_file, save_file
            path = sys.argv[1] + "/base.safetensors"
            t = load_file(path)
            name = sorted(t)[0]
            t[name].reshape(-1)[3] = float("nan")
            save_file(t, path, metadata={"format": "pt"})
            print(name)
            """, [nan])
        try #require(poke.exitCode == 0, "\(poke.transcript)")
        let tensor = poke.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        failsNaming(try train(try config(dir, "n", stage: "uso", data: "\(data)/triplets", initWeights: nan)),
                    ["\(nan)/base.safetensors", tensor, "holds nan at element 3"], "NaN weight")
        #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/n/metrics.jsonl"))
        // Resume with the checkpoint's tensors gone: named, never the init copy instead.
        let run = try train(try config(dir, "r", stage: "uso", data: "\(data)/triplets", initWeights: weights))
        try #require(run.exitCode == 0, "\(run.transcript)")
        let tensors = "\(dir.path)/r/checkpoints/step_00000002/trainable.safetensors"
        try FileManager.default.removeItem(atPath: tensors)
        failsNaming(try MPIRun.runWithoutMPI(uso, ["train", "--resume", "\(dir.path)/r", "--steps", "3", "--progress", "none"]),
                    [tensors], "resume without the trained tensors")
    }

    @Test func aNonFiniteGradientSkipsTheStepAndNamesTheTensor() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = try synth(dir)
        let cfg = try config(dir, "f", stage: "uso", data: "\(data)/triplets", steps: 4, initWeights: "random")
        let job = try train(cfg, environment: ["USO_FAULT_NONFINITE": "2"])
        #expect(job.exitCode == 0, "\(job.transcript)")
        #expect(job.stderr.contains("uso train: step 2 skipped (no update)") && job.stderr.contains("first non-finite gradient in "),
                "\(job.transcript)")
        let lines = try String(contentsOfFile: "\(dir.path)/f/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        try #require(lines.count == 4)
        let m = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(m.map { $0["skipped"] as? Bool } == [false, false, true, false], "\(m)")
        #expect((m[2]["non_finite_gradient"] as? String)?.isEmpty == false, "\(m[2])")
        #expect(m[2]["grad_norm"] as? Double == 0, "no clipping norm for a skipped step")
    }

    @Test func setErrorsBlameSet() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let cfg = try config(dir, "c", stage: "uso", data: "\(dir.path)/none", initWeights: "random")
        failsNaming(try train(cfg, ["--set", "optim.lr=fast"]), ["--set: optim.lr: expected a number"], "bad value")
        failsNaming(try train(cfg, ["--set", "optim.lrate=1"]), ["--set: optim.lrate: unknown key in [optim]"], "unknown key")
        failsNaming(try train(cfg, ["--set", "data.path=\(dir.path)/none"]), ["\(dir.path)/none"], "missing set")
    }
}
