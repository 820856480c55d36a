import Foundation
import Testing
import USOTestSupport

/// Step-numbered checkpoints: the layout (tensors, optimizer, state, metadata with a
/// checksum per tensor, DONE), `latest`, retention of the last K plus every M-th; an
/// interrupted save leaves the previous checkpoint as `latest`, is removed at the next start,
/// and the resume from the previous one is bit-exact with no duplicated metrics line; a
/// flipped byte is refused naming the file and tensor; a fresh start never overwrites a run.
@Suite(.serialized)
struct CheckpointTests {
    let uso = MPIRun.executable("uso")

    func synth(_ dir: TemporaryDirectory) throws -> String {
        let out = "\(dir.path)/data"
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", out, "--resolution", "32", "--triplets", "16",
                                                  "--pairs", "48", "--style-images", "8", "--shard-size", "16"])
        try #require(made.exitCode == 0, "\(made.transcript)")
        return "\(out)/pairs"
    }

    func config(_ dir: TemporaryDirectory, _ name: String, data: String, steps: Int = 6) throws -> String {
        try dir.write("\(name).toml", """
            [run]
            stage = "base"
            preset = "tiny"
            out = "\(dir.path)/\(name)"
            steps = \(steps)
            init_weights = "random"
            save_every = 2
            keep_last = 2
            keep_every = 4
            [data]
            path = "\(data)"
            global_batch = 4
            [optim]
            lr = 2e-3
            schedule = "cosine"
            """)
    }

    func steps(_ run: String) throws -> [Int] {
        try String(contentsOfFile: "\(run)/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["step"] as! Int
        }
    }

    func listing(_ run: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(run)/checkpoints")) ?? []).sorted()
    }

    @Test func layoutRetentionAndAnOutsideReader() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = try synth(dir)
        let job = try MPIRun.run(np: 2, uso, ["train", "--config", try config(dir, "run", data: data), "--progress", "none"])
        try #require(job.exitCode == 0, "\(job.transcript)")
        let run = "\(dir.path)/run"
        // Saved at 2, 4, 6; the last 2 kept (4, 6) and every 4th (4): step 2 pruned.
        #expect(listing(run) == ["latest", "step_00000004", "step_00000006"], "\(listing(run))")
        #expect(try String(contentsOfFile: "\(run)/checkpoints/latest", encoding: .utf8) == "step_00000006\n")
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(run)/checkpoints/step_00000006").sorted()
        #expect(files == ["DONE", "metadata.json", "optimizer.safetensors", "state.json", "trainable.safetensors"], "\(files)")
        // The safetensors package reads every tensor and its CRC-32 is the metadata's.
        let check = try Python.run("""
            import json, sys, zlib
            from safetensors.numpy import load_file
            folder = sys.argv[1]
            meta = json.load(open(folder + "/metadata.json"))
            state = json.load(open(folder + "/state.json"))
            files = {}
            for t in meta["tensors"]:
                f = files.setdefault(t["file"], load_file(folder + "/" + t["file"]))
                a = f[t["name"]]
                assert list(a.shape) == t["shape"], t["name"]
                (shard,) = t["shards"]
                assert "%08x" % zlib.crc32(a.astype("<f4").tobytes()) == shard["crc32"], t["name"]
            assert state["step"] == 6 and state["stage"] == "base" and state["trainers"] == 2 and state["schedule_steps"] == 6
            assert "save_every = 2" in state["config_text"]
            print(len(meta["tensors"]))
            """, ["\(run)/checkpoints/step_00000006"])
        #expect(check.exitCode == 0 && (Int(check.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > 30, "\(check.transcript)")
        let inspect = try MPIRun.runWithoutMPI(uso, ["ckpt", "inspect", "\(run)/checkpoints/step_00000006"])
        #expect(inspect.exitCode == 0 && inspect.stdout.contains("stage base, preset tiny, step 6")
                && inspect.stdout.contains("2 trainer(s)") && inspect.stdout.contains("checksums: all"), "\(inspect.transcript)")
        // A fresh start into the same folder is refused; nothing changes.
        let again = try MPIRun.run(np: 2, uso, ["train", "--config", try config(dir, "run", data: data), "--progress", "none"])
        #expect(again.exitCode != 0 && again.stderr.contains("already holds a run") && again.stderr.contains("--resume"), "\(again.transcript)")
        #expect(try steps(run) == [0, 1, 2, 3, 4, 5])
    }

    @Test func anInterruptedSaveIsNeverLoadedAndTheResumeIsBitExact() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = try synth(dir)
        let straight = try MPIRun.run(np: 2, uso, ["train", "--config", try config(dir, "straight", data: data), "--progress", "none"])
        try #require(straight.exitCode == 0, "\(straight.transcript)")
        // Killed inside the save of step 4 (its files written, no DONE): latest stays step 2.
        let cut = try MPIRun.run(np: 2, uso, ["train", "--config", try config(dir, "cut", data: data), "--progress", "none"],
                                 environment: ["USO_FAULT_STOP_IN_SAVE": "4"])
        #expect(cut.exitCode != 0 && cut.stderr.contains("inside the save of step 4"), "\(cut.transcript)")
        let run = "\(dir.path)/cut"
        #expect(listing(run) == ["latest", "step_00000002", "step_00000004"])
        #expect(try String(contentsOfFile: "\(run)/checkpoints/latest", encoding: .utf8) == "step_00000002\n")
        #expect(!FileManager.default.fileExists(atPath: "\(run)/checkpoints/step_00000004/DONE"))
        let list = try MPIRun.runWithoutMPI(uso, ["ckpt", "list", run])
        #expect(list.exitCode == 0 && list.stdout.contains("step_00000002") && list.stdout.contains("complete, latest")
                && list.stdout.contains("step_00000004") && list.stdout.contains("INCOMPLETE"), "\(list.transcript)")
        let partial = try MPIRun.runWithoutMPI(uso, ["ckpt", "inspect", "\(run)/checkpoints/step_00000004"])
        #expect(partial.exitCode != 0 && partial.stderr.contains("has no DONE marker"), "\(partial.transcript)")
        let resumed = try MPIRun.run(np: 2, uso, ["train", "--resume", run, "--progress", "none"])
        #expect(resumed.exitCode == 0, "\(resumed.transcript)")
        #expect(resumed.stdout.contains("removed what interrupted saves left") && resumed.stdout.contains("step_00000004")
                && resumed.stdout.contains("resuming at step 2"), "\(resumed.transcript)")
        #expect(try steps(run) == [0, 1, 2, 3, 4, 5], "every step logged once")
        for f in ["base.safetensors"] {
            let a = try Data(contentsOf: URL(fileURLWithPath: "\(dir.path)/straight/weights/\(f)"))
            let b = try Data(contentsOf: URL(fileURLWithPath: "\(run)/weights/\(f)"))
            let same = a == b   // a Bool: #expect(a == b) on Data renders every byte when it fails
            #expect(same, "\(f) differs from the uninterrupted run's")
        }
        for f in ["trainable.safetensors", "optimizer.safetensors"] {
            let a = try Data(contentsOf: URL(fileURLWithPath: "\(dir.path)/straight/checkpoints/step_00000006/\(f)"))
            let b = try Data(contentsOf: URL(fileURLWithPath: "\(run)/checkpoints/step_00000006/\(f)"))
            let same = a == b   // a Bool: #expect(a == b) on Data renders every byte when it fails
            #expect(same, "\(f) of step 6 differs from the uninterrupted run's")
        }
        // One flipped byte in the newest checkpoint's tensors: the resume names file and tensor.
        let tensors = "\(run)/checkpoints/step_00000006/trainable.safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: tensors))
        bytes[bytes.count - 3] ^= 0x10
        try bytes.write(to: URL(fileURLWithPath: tensors))
        let inspect = try MPIRun.runWithoutMPI(uso, ["ckpt", "inspect", "\(run)/checkpoints/step_00000006"])
        #expect(inspect.exitCode != 0 && inspect.stderr.contains(tensors) && inspect.stderr.contains("checksum mismatch"), "\(inspect.transcript)")
        let refused = try MPIRun.run(np: 2, uso, ["train", "--resume", run, "--steps", "8", "--progress", "none"])
        #expect(refused.exitCode != 0 && refused.stderr.contains(tensors) && refused.stderr.contains("checksum mismatch"), "\(refused.transcript)")
    }

    /// Resume at another world size (4 -> 2 and 2 -> 3 trainers): the global sample order and
    /// every sample's randomness are keyed by the global plan and the sample id, not by the
    /// trainer count, so the resumed run equals an uninterrupted run at the new size (losses
    /// and gradient norms within 1e-5 relative, final weights within the equivalence test's
    /// tolerance), with every step logged once.
    @Test func aResumeAtAnotherWorldSizeContinuesTheSameRun() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = try synth(dir)
        for (first, then) in [(4, 2), (2, 3)] {
            let reference = "ref-\(then)", split = "split-\(first)-\(then)"
            let whole = try MPIRun.run(np: then, uso, ["train", "--config", try config(dir, reference, data: data, steps: 8), "--progress", "none"],
                                       timeout: 300)
            try #require(whole.exitCode == 0, "\(whole.transcript)")
            let cut = try MPIRun.run(np: first, uso, ["train", "--config", try config(dir, split, data: data, steps: 8), "--progress", "none"],
                                     timeout: 300, environment: ["USO_FAULT_STOP_AFTER": "4"])
            #expect(cut.exitCode != 0 && cut.stderr.contains("stopping after step 4"), "\(cut.transcript)")
            let resumed = try MPIRun.run(np: then, uso, ["train", "--resume", "\(dir.path)/\(split)", "--progress", "none"], timeout: 300)
            try #require(resumed.exitCode == 0 && resumed.stdout.contains("resuming at step 4"), "\(resumed.transcript)")
            #expect(try steps("\(dir.path)/\(split)") == Array(0..<8), "every step once")
            let a = try TrainEquivalenceTests.record("\(dir.path)/\(reference)", files: ["base.safetensors"])
            let b = try TrainEquivalenceTests.record("\(dir.path)/\(split)", files: ["base.safetensors"])
            TrainEquivalenceTests.expectSame(a, b, "\(first) trainers, resumed at \(then), vs \(then) throughout")
        }
    }

    /// The per-step losses, gradient norms and rates as logged (bit for bit).
    func logged(_ run: String) throws -> [[Double]] {
        try String(contentsOfFile: "\(run)/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            let m = try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
            return [m["loss"] as! Double, m["grad_norm"] as! Double, m["lr"] as! Double]
        }
    }

    /// ZeRO-1 checkpoints: killed and resumed at the same size, the run is bit-exact (every
    /// logged loss, norm and rate, and every byte of the last checkpoint's weights and optimizer
    /// shards); resumed at another size (4 -> 2, 2 -> 3, sharded; 4 sharded -> 2 whole) it
    /// equals an uninterrupted run at the new size, the moments regathered from the old shards.
    @Test func shardedStateResumesBitExactAndAtOtherWorldSizes() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = try synth(dir)
        let shard = ["--set", "optim.shard_state=true"]
        // Same size: bit-exact.
        let straight = try MPIRun.run(np: 2, uso, ["train", "--config", try config(dir, "straight", data: data, steps: 8), "--progress", "none"] + shard)
        try #require(straight.exitCode == 0, "\(straight.transcript)")
        let cut = try MPIRun.run(np: 2, uso, ["train", "--config", try config(dir, "cut", data: data, steps: 8), "--progress", "none"] + shard,
                                 environment: ["USO_FAULT_STOP_AFTER": "4"])
        #expect(cut.exitCode != 0 && cut.stderr.contains("stopping after step 4"), "\(cut.transcript)")
        let resumed = try MPIRun.run(np: 2, uso, ["train", "--resume", "\(dir.path)/cut", "--progress", "none"])
        try #require(resumed.exitCode == 0 && resumed.stdout.contains("resuming at step 4"), "\(resumed.transcript)")
        #expect(try logged("\(dir.path)/straight") == (try logged("\(dir.path)/cut")), "every logged loss, norm and rate bit for bit")
        for f in ["trainable.safetensors", "optimizer.trainer_00.safetensors", "optimizer.trainer_01.safetensors", "metadata.json"] {
            let a = try Data(contentsOf: URL(fileURLWithPath: "\(dir.path)/straight/checkpoints/step_00000008/\(f)"))
            let b = try Data(contentsOf: URL(fileURLWithPath: "\(dir.path)/cut/checkpoints/step_00000008/\(f)"))
            let same = a == b   // a Bool: #expect(a == b) on Data renders every byte when it fails
            #expect(same, "\(f) of step 8 differs from the uninterrupted run's")
        }
        // A truncated shard is refused naming the file and a tensor in it.
        let shardFile = "\(dir.path)/cut/checkpoints/step_00000008/optimizer.trainer_01.safetensors"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: shardFile))
        try bytes.prefix(bytes.count - 1000).write(to: URL(fileURLWithPath: shardFile))
        let truncated = try MPIRun.runWithoutMPI(uso, ["ckpt", "inspect", "\(dir.path)/cut/checkpoints/step_00000008"])
        #expect(truncated.exitCode != 0 && truncated.stderr.contains(shardFile) && truncated.stderr.contains("tensor \"v.")
                && truncated.stderr.contains("extend past"), "\(truncated.transcript)")
        // Other sizes, and sharding switched off at the resume.
        for (first, then, shardAfter) in [(4, 2, true), (2, 3, true), (4, 2, false)] {
            let after = shardAfter ? shard : ["--set", "optim.shard_state=false"]
            let reference = "ref-\(then)-\(shardAfter)", split = "split-\(first)-\(then)-\(shardAfter)"
            let whole = try MPIRun.run(np: then, uso, ["train", "--config", try config(dir, reference, data: data, steps: 8), "--progress", "none"] + after,
                                       timeout: 300)
            try #require(whole.exitCode == 0, "\(whole.transcript)")
            let stopped = try MPIRun.run(np: first, uso, ["train", "--config", try config(dir, split, data: data, steps: 8), "--progress", "none"] + shard,
                                         timeout: 300, environment: ["USO_FAULT_STOP_AFTER": "4"])
            #expect(stopped.exitCode != 0 && stopped.stderr.contains("stopping after step 4"), "\(stopped.transcript)")
            let again = try MPIRun.run(np: then, uso, ["train", "--resume", "\(dir.path)/\(split)", "--progress", "none"] + after, timeout: 300)
            try #require(again.exitCode == 0 && again.stdout.contains("resuming at step 4"), "\(again.transcript)")
            #expect(try steps("\(dir.path)/\(split)") == Array(0..<8), "every step once")
            let a = try TrainEquivalenceTests.record("\(dir.path)/\(reference)", files: ["base.safetensors"])
            let b = try TrainEquivalenceTests.record("\(dir.path)/\(split)", files: ["base.safetensors"])
            TrainEquivalenceTests.expectSame(a, b, "\(first) sharded trainers, resumed at \(then) (sharded: \(shardAfter)), vs \(then) throughout")
        }
    }

    /// A resume into another stage or preset, or a checkpoint whose tensor has another shape
    /// than the model's, is refused naming the mismatch; nothing is changed.
    @Test func anotherStagePresetOrShapeIsRefused() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = try synth(dir)
        let job = try MPIRun.run(np: 1, uso, ["train", "--config", try config(dir, "run", data: data, steps: 2), "--progress", "none"])
        try #require(job.exitCode == 0, "\(job.transcript)")
        let run = "\(dir.path)/run", ckpt = "\(dir.path)/run/checkpoints/step_00000002"
        let before = try Data(contentsOf: URL(fileURLWithPath: "\(run)/metrics.jsonl"))
        let stage = try MPIRun.run(np: 1, uso, ["train", "--resume", run, "--steps", "4", "--set", "run.stage=autoencoder",
                                                "--set", "data.path=\(dir.path)/data/triplets", "--progress", "none"])
        #expect(stage.exitCode != 0 && stage.stderr.contains("a checkpoint of stage base; the config says stage autoencoder"), "\(stage.transcript)")
        let preset = try MPIRun.run(np: 1, uso, ["train", "--resume", run, "--steps", "4", "--set", "run.preset=small", "--progress", "none"])
        #expect(preset.exitCode != 0 && preset.stderr.contains("preset"), "\(preset.transcript)")
        // A metadata shape that is not the model's (another model's checkpoint).
        let metaPath = "\(ckpt)/metadata.json"
        var meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: metaPath))) as! [String: Any]
        var tensors = meta["tensors"] as! [[String: Any]]
        let k = try #require(tensors.firstIndex { ($0["shape"] as! [Int]).count == 2 })
        let name = tensors[k]["name"] as! String
        let shape = tensors[k]["shape"] as! [Int]
        tensors[k]["shape"] = [shape.reduce(1, *)]
        meta["tensors"] = tensors
        try JSONSerialization.data(withJSONObject: meta).write(to: URL(fileURLWithPath: metaPath))
        let shaped = try MPIRun.run(np: 1, uso, ["train", "--resume", run, "--steps", "4", "--progress", "none"])
        #expect(shaped.exitCode != 0 && shaped.stderr.contains(name) && shaped.stderr.contains("shape [\(shape.reduce(1, *))] in the checkpoint"),
                "\(shaped.transcript)")
        let after = try Data(contentsOf: URL(fileURLWithPath: "\(run)/metrics.jsonl"))
        let same = before == after
        #expect(same, "a refused resume leaves the run's metrics as they were")
        #expect(listing(run) == ["latest", "step_00000002"])
    }

    /// A full disk (a 2 MB tmpfs: room for one checkpoint of the tiny base model, not two)
    /// ends the run naming the file and the reason; the half-written checkpoint is never
    /// listed as complete or loaded, the one before stays `latest` and verifies.
    @Test(.enabled(if: geteuid() == 0, "mounting a tmpfs needs root (CI runs as root)"))
    func aFullDiskIsReportedAndNothingHalfWrittenIsUsed() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = try synth(dir)
        let disk = "\(dir.path)/disk"
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        let mount = try MPIRun.runWithoutMPI("/bin/mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", disk])
        try #require(mount.exitCode == 0, "\(mount.transcript)")
        defer { _ = try? MPIRun.runWithoutMPI("/bin/umount", [disk]) }
        var cfg = try String(contentsOfFile: try config(dir, "run", data: data, steps: 6), encoding: .utf8)
        cfg = cfg.replacingOccurrences(of: "out = \"\(dir.path)/run\"", with: "out = \"\(disk)/run\"")
        let path = try dir.write("full.toml", cfg)
        let job = try MPIRun.run(np: 2, uso, ["train", "--config", path, "--progress", "none"])
        #expect(job.exitCode != 0 && job.stderr.contains("No space left on device") && job.stderr.contains("\(disk)/run/checkpoints/step_00000004"),
                "\(job.transcript)")
        let run = "\(disk)/run"
        #expect(try String(contentsOfFile: "\(run)/checkpoints/latest", encoding: .utf8) == "step_00000002\n")
        let list = try MPIRun.runWithoutMPI(uso, ["ckpt", "list", run])
        #expect(list.exitCode == 0 && list.stdout.contains("complete, latest") && !list.stdout.contains("step_00000004  step        4        0.00 MB  complete"),
                "\(list.transcript)")
        #expect(!FileManager.default.fileExists(atPath: "\(run)/checkpoints/step_00000004/DONE"))
        let inspect = try MPIRun.runWithoutMPI(uso, ["ckpt", "inspect", "\(run)/checkpoints/step_00000002"])
        #expect(inspect.exitCode == 0 && inspect.stdout.contains("checksums: all"), "\(inspect.transcript)")
        let partial = try MPIRun.runWithoutMPI(uso, ["ckpt", "inspect", "\(run)/checkpoints/step_00000004"])
        #expect(partial.exitCode != 0 && partial.stderr.contains("no DONE marker"), "\(partial.transcript)")
        // A merge onto the full disk fails naming the file, and leaves no partial file behind.
        let merge = try MPIRun.runWithoutMPI(uso, ["ckpt", "merge", "\(run)/checkpoints/step_00000002", "--out", "\(disk)/merged.safetensors"])
        #expect(merge.exitCode != 0 && merge.stderr.contains("\(disk)/merged.safetensors") && merge.stderr.contains("No space left"), "\(merge.transcript)")
        let left = try FileManager.default.contentsOfDirectory(atPath: disk).filter { $0.contains("merged") }
        #expect(left.isEmpty, "\(left)")
    }
}
