import Foundation
import Testing
import USOTestSupport

/// Training runs as users start them: the stages chain through their weights folders,
/// a run resumes where it stopped, and bad configs stop before any work.
@Suite(.serialized)
struct TrainRunTests {
    let uso = MPIRun.executable("uso")

    func metrics(_ run: String) throws -> [[String: Any]] {
        try String(contentsOfFile: "\(run)/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }

    func synth(_ dir: TemporaryDirectory) throws -> String {
        let out = "\(dir.path)/data"
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", out, "--resolution", "32", "--triplets", "48",
                                                  "--pairs", "48", "--style-images", "48", "--shard-size", "16"])
        #expect(made.exitCode == 0, "\(made.transcript)")
        return out
    }

    func config(_ dir: TemporaryDirectory, _ name: String, stage: String, data: String, steps: Int, initWeights: String = "",
                batch: Int = 4, extra: String = "", runExtra: String = "") throws -> String {
        try dir.write("\(name).toml", """
            [run]
            stage = "\(stage)"
            preset = "tiny"
            out = "\(dir.path)/\(name)"
            steps = \(steps)
            init_weights = "\(initWeights)"
            \(runExtra)
            [data]
            path = "\(data)"
            global_batch = \(batch)
            [optim]
            lr = 2e-3
            \(extra)
            """)
    }

    @Test func stagesChainAndResumeIsExact() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = try synth(dir)
        // autoencoder -> base -> uso, each starting from the previous run's weights; csd on its own.
        let ae = try MPIRun.run(np: 2, uso, ["train", "--config", try config(dir, "ae", stage: "autoencoder", data: "\(data)/triplets", steps: 24)])
        #expect(ae.exitCode == 0, "\(ae.transcript)")
        let aeLoss = try metrics("\(dir.path)/ae").map { $0["loss"] as! Double }
        // Batches differ step to step: compare the first and last four steps' means.
        #expect(aeLoss.suffix(4).reduce(0, +) < aeLoss.prefix(4).reduce(0, +), "autoencoder loss \(aeLoss)")
        let base = try MPIRun.run(np: 2, uso, ["train", "--config", try config(dir, "base", stage: "base", data: "\(data)/pairs", steps: 6,
                                                                              initWeights: "\(dir.path)/ae/weights")])
        #expect(base.exitCode == 0, "\(base.transcript)")
        let csd = try MPIRun.run(np: 2, uso, ["train", "--config", try config(dir, "csd", stage: "csd", data: "\(data)/styles", steps: 4, batch: 8)])
        #expect(csd.exitCode == 0, "\(csd.transcript)")
        #expect(FileManager.default.fileExists(atPath: "\(dir.path)/csd/weights/csd.safetensors"))
        // uso: 8 steps straight, and 4 + resume to 8; the resumed steps match exactly.
        let straight = try config(dir, "straight", stage: "uso", data: "\(data)/triplets", steps: 8, initWeights: "\(dir.path)/base/weights")
        let first = try MPIRun.run(np: 2, uso, ["train", "--config", straight])
        #expect(first.exitCode == 0, "\(first.transcript)")
        let half = try config(dir, "half", stage: "uso", data: "\(data)/triplets", steps: 4, initWeights: "\(dir.path)/base/weights")
        #expect(try MPIRun.run(np: 2, uso, ["train", "--config", half]).exitCode == 0)
        let resumed = try MPIRun.run(np: 2, uso, ["train", "--resume", "\(dir.path)/half", "--steps", "8"])
        #expect(resumed.exitCode == 0, "\(resumed.transcript)")
        let a = try metrics("\(dir.path)/straight").map { $0["loss"] as! Double }
        let b = try metrics("\(dir.path)/half").map { $0["loss"] as! Double }
        #expect(a.count == 8 && b.count == 8, "\(a.count) and \(b.count) steps logged")
        #expect(a == b, "straight \(a)\nresumed \(b)")
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(dir.path)/straight/weights").sorted()
        #expect(files.contains("dit_lora.safetensors") && files.contains("projector.safetensors") && files.contains("base.safetensors"))
        let m = try metrics("\(dir.path)/straight").last!
        #expect(Set((m["time"] as! [String: Double]).keys) == ["data_wait", "forward", "backward", "sync_wait", "optimizer", "reward_wait"])
        #expect((m["loss_by_task"] as! [String: Double]).keys.allSatisfy { ["subject+style", "style", "subject", "text"].contains($0) })
    }

    /// A run that stops after a mid-run save (not the final one) resumes bit for bit: a cosine
    /// schedule, the style reward on a dedicated reward rank, and the steps after the save
    /// replayed with the same losses, gradient norms, learning rates and final weights. A
    /// resume with another --steps keeps the schedule planned at the start, and says so.
    @Test func midRunResumeIsBitExactWithCosineAndReward() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = try synth(dir)
        let csd = try MPIRun.run(np: 2, uso, ["train", "--config", try config(dir, "csd", stage: "csd", data: "\(data)/styles", steps: 3, batch: 8)])
        try #require(csd.exitCode == 0, "\(csd.transcript)")
        let base = try MPIRun.run(np: 2, uso, ["train", "--config", try config(dir, "base", stage: "base", data: "\(data)/pairs", steps: 3,
                                                                              initWeights: "random")])
        try #require(base.exitCode == 0, "\(base.transcript)")
        func cfg(_ name: String) throws -> String {
            try config(dir, name, stage: "uso", data: "\(data)/triplets", steps: 8, initWeights: "\(dir.path)/base/weights", extra: """
                schedule = "cosine"
                warmup_steps = 2
                min_lr = 1e-4
                [cluster]
                reward_ranks = 1
                [reward]
                mode = "dedicated"
                csd_weights = "\(dir.path)/csd/weights"
                start_step = 0
                """, runExtra: "save_every = 3")
        }
        let straight = try MPIRun.run(np: 3, uso, ["train", "--config", try cfg("straight"), "--progress", "none"], timeout: 240)
        try #require(straight.exitCode == 0, "\(straight.transcript)")
        // Stops after step 5: the last save is at 3, so steps 3 and 4 are replayed.
        let crashed = try MPIRun.run(np: 3, uso, ["train", "--config", try cfg("crashed"), "--progress", "none"], timeout: 240,
                                     environment: ["USO_FAULT_STOP_AFTER": "5"])
        #expect(crashed.exitCode != 0 && crashed.stderr.contains("stopping after step 5"), "\(crashed.transcript)")
        let resumed = try MPIRun.run(np: 3, uso, ["train", "--resume", "\(dir.path)/crashed", "--progress", "none"], timeout: 240)
        #expect(resumed.exitCode == 0 && resumed.stdout.contains("resuming at step 3"), "\(resumed.transcript)")
        // The last line logged for each step (a crash leaves the replayed steps twice).
        func byStep(_ run: String) throws -> [Int: [String: Any]] {
            var out: [Int: [String: Any]] = [:]
            for m in try metrics(run) { out[m["step"] as! Int] = m }
            return out
        }
        let a = try byStep("\(dir.path)/straight"), b = try byStep("\(dir.path)/crashed")
        #expect(try metrics("\(dir.path)/crashed").map { $0["step"] as! Int } == Array(0..<8), "every step logged once after the resume")
        #expect(a.count == 8 && b.count == 8)
        var rewarded = 0
        for s in 0..<8 {
            for key in ["loss", "grad_norm", "lr"] {
                #expect(a[s]?[key] as? Double == b[s]?[key] as? Double, "step \(s) \(key): straight \(a[s]?[key] ?? "none"), resumed \(b[s]?[key] ?? "none")")
            }
            rewarded += a[s]?["reward_samples"] as? Int ?? 0
        }
        #expect(rewarded > 0, "the reward ran")
        #expect(Set((0..<8).compactMap { a[$0]?["lr"] as? Double }).count >= 6, "the cosine schedule moves the rate")
        for f in ["dit_lora.safetensors", "projector.safetensors"] {
            let x = try Data(contentsOf: URL(fileURLWithPath: "\(dir.path)/straight/weights/\(f)"))
            let y = try Data(contentsOf: URL(fileURLWithPath: "\(dir.path)/crashed/weights/\(f)"))
            #expect(x == y, "\(f) differs after the resume")
        }
        // --steps at resume: training goes on past 8, the rates of the planned steps unchanged, and it says so.
        let longer = try MPIRun.run(np: 3, uso, ["train", "--resume", "\(dir.path)/straight", "--steps", "10", "--progress", "none"], timeout: 240)
        #expect(longer.exitCode == 0, "\(longer.transcript)")
        #expect(longer.stdout.contains("the cosine schedule keeps the 8 steps planned when the run started"), "\(longer.transcript)")
        let c = try byStep("\(dir.path)/straight")
        #expect(c[8]?["lr"] as? Double == 1e-4 && c[9]?["lr"] as? Double == 1e-4, "past the plan: min_lr")
    }

    @Test func badConfigsStopWithTheKey() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = try synth(dir)
        let wrongSet = try MPIRun.run(np: 2, uso, ["train", "--config", try config(dir, "w", stage: "base", data: "\(data)/triplets", steps: 2)])
        #expect(wrongSet.exitCode != 0 && wrongSet.stderr.contains("stage base trains on pairs"), "\(wrongSet.transcript)")
        let typo = try MPIRun.run(np: 2, uso, ["train", "--config", try config(dir, "t", stage: "uso", data: "\(data)/triplets", steps: 2,
                                                                          extra: "learning_rate = 3")])
        #expect(typo.exitCode != 0 && typo.stderr.contains("optim.learning_rate: unknown key in [optim]"), "\(typo.transcript)")
        let help = try MPIRun.runWithoutMPI(uso, ["train", "--help-config"])
        #expect(help.exitCode == 0 && help.stdout.contains("sync.bucket_mib (float, default 2"), "\(help.transcript)")
    }

    @Test func divergedReplicasStopTheJobNamingTheTrainer() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = try synth(dir)
        let cfg = try config(dir, "div", stage: "uso", data: "\(data)/triplets", steps: 8, initWeights: "random")
        // checksum_every 2; trainer 2 of 3 is corrupted after step 3: the check after step 4 catches it.
        let text = try String(contentsOfFile: cfg, encoding: .utf8).replacingOccurrences(of: "steps = 8", with: "steps = 8\nchecksum_every = 2")
        try text.write(toFile: cfg, atomically: true, encoding: .utf8)
        let job = try MPIRun.run(np: 3, uso, ["train", "--config", cfg], timeout: 120, environment: ["USO_FAULT_DIVERGE": "2:3"])
        #expect(job.exitCode != 0 && job.exitCode != MPIRun.timeoutExitCode, "\(job.transcript)")
        #expect(job.stderr.contains("after step 4 the trainable weights of trainer(s) [2] differ from trainer 0's"), "\(job.transcript)")
        // The fault nudges one element of one tensor: the report names a LoRA or projector tensor.
        let named = job.stderr.range(of: #"first differing tensor (double_blocks|single_blocks|feature_embedder)[a-z_0-9.]*\.(weight|bias)\)"#,
                                     options: .regularExpression)
        #expect(named != nil, "\(job.transcript)")
    }
}
