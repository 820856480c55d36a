import FlightRecorder
import Foundation
import Testing
import USOTestSupport

/// The stall inspector and the non-finite guard, under mpirun as users hit them: a trainer
/// stopped with SIGSTOP, a trainer whose data loading is 30 s late, and a NaN in one sample
/// of one trainer (in its loss, or only in its backward).
@Suite(.serialized)
struct DiagStallTests {
    let uso = MPIRun.executable("uso")
    static let warn = 2.0, abort = 8.0

    func makeData(_ dir: TemporaryDirectory) throws {
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", "\(dir.path)/data", "--resolution", "32", "--triplets", "8",
                                                  "--pairs", "32", "--style-images", "8"])
        try #require(made.exitCode == 0, "\(made.transcript)")
    }

    func train(_ dir: TemporaryDirectory, steps: Int, _ extra: [String] = []) -> [String] {
        ["train", "--config", "Cluster/configs/tiny-base.toml".repoPath, "--progress", "none", "--set", "run.out=\(dir.path)/run",
         "--set", "data.path=\(dir.path)/data/pairs", "--set", "run.init_weights=random", "--set", "run.steps=\(steps)",
         "--set", "diag.stall_warn_s=\(Self.warn)", "--set", "diag.stall_abort_s=\(Self.abort)"] + extra
    }

    func stalls(_ dir: TemporaryDirectory, rank: Int) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: "\(dir.path)/run/diag/" + StallInspector.stallFile(rank), encoding: .utf8)
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// Trainer 1 stopped mid-run: trainer 0 names it (not arrived, its last span, its dead
    /// heartbeat) within stall_warn_s + 5 s of the stop, and after stall_abort_s ends the job
    /// with every rank's flight recorder dumped, the stopped rank's included.
    @Test func stoppedTrainerIsNamedWithItsLastSpan() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try makeData(dir)
        final class Stop: @unchecked Sendable { var at: Date?; var pid: Int32 = 0; var step = -1 }
        let stop = Stop()
        let job = try MPIRun.run(np: 2, uso, train(dir, steps: 1_000_000), timeout: 90) {
            // Once trainer 1 is some steps in, stop it as a hung host would be.
            guard let b = TinyStages.board(of: "\(dir.path)/run", rank: 1, atStep: 5) else { return }
            stop.pid = b.pid
            stop.step = b.step
            kill(b.pid, SIGSTOP)
            stop.at = Date()
        }
        let stoppedAt = try #require(stop.at, "trainer 1's board never showed step 5: \(job.transcript)")
        #expect(job.exitCode != 0, "\(job.transcript)")
        #expect(job.stderr.contains("uso: stall on rank 0 (trainer 0, coordinator"), "\(job.stderr)")
        // Stopped before its call (not arrived), or after posting a non-blocking one (arrived,
        // but a stopped rank does not progress it): named either way.
        #expect(job.stderr.contains("not arrived: rank 1 (trainer 1, host") || job.stderr.contains("arrived, not progressing it: rank 1 (trainer 1, host"),
                "\(job.stderr)")
        #expect(job.stderr.contains("last span "), "\(job.stderr)")
        #expect(job.stderr.contains("the process is stopped or gone (pid \(stop.pid))"), "\(job.stderr)")
        #expect(job.stderr.contains("ending the job: waited more than diag.stall_abort_s"), "\(job.stderr)")
        let records = try stalls(dir, rank: 0)
        let first = try #require(records.first, "no stall record")
        let named = (first["time_unix"] as! Double) - stoppedAt.timeIntervalSince1970
        #expect(named <= Self.warn + 5, "named \(named) s after the stop")
        #expect((first["report"] as! String).contains("rank 1 (trainer 1"), "\(first)")
        #expect(records.contains { $0["aborting"] as? Bool == true }, "\(records)")
        // The job ended soon after the abort deadline, not at mpirun's timeout.
        #expect(job.seconds < 60, "the job took \(job.seconds) s")
        // Every rank's flight recorder is on disk, the stopped rank's dumped from its board:
        // its spans reach the step it was stopped in, with the span it was in still open.
        let dumped = try String(contentsOfFile: "\(dir.path)/run/diag/rank_01.jsonl", encoding: .utf8).split(separator: "\n")
        let lines = dumped.compactMap { SpanLine.decode($0) }
        #expect(lines.count == dumped.count, "undecodable lines in rank 1's dump")
        #expect(lines.contains { $0.step >= stop.step && $0.end == 0 }, "no open span of step \(stop.step) in rank 1's dump")
        #expect(FileManager.default.fileExists(atPath: "\(dir.path)/run/diag/rank_00.jsonl"))
        // mpirun kills the stopped rank too (SIGKILL reaches a stopped process); give the kernel a moment.
        var alive = true
        for _ in 0..<50 where alive {
            let state = (try? String(contentsOfFile: "/proc/\(stop.pid)/stat", encoding: .utf8))?.split(separator: " ").dropFirst(2).first
            alive = state != nil && state != "Z"
            if alive { usleep(100_000) }
        }
        #expect(!alive, "the stopped rank \(stop.pid) outlived the job")
    }

    /// Trainer 1's data arrives 30 s late: trainer 0 names it waiting for data, and trainer 1
    /// reports its own data wait, each within stall_warn_s + 5 s of the wait's start.
    @Test func lateDataIsNamedOnBothSides() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try makeData(dir)
        let job = try MPIRun.run(np: 2, uso, train(dir, steps: 100), timeout: 90, environment: ["USO_FAULT_DATA_DELAY": "1:20:30"])
        #expect(job.exitCode != 0, "\(job.transcript)")
        let waiting = try #require(stalls(dir, rank: 0).first)
        #expect((waiting["waited_s"] as! Double) <= Self.warn + 5, "\(waiting)")
        let report = waiting["report"] as! String
        #expect(report.contains("not arrived: rank 1 (trainer 1") && report.contains("last span data wait (step 20), waiting in it for"),
                "\(report)")
        let own = try #require(stalls(dir, rank: 1).first)
        #expect((own["kind"] as! String) == "data wait" && (own["step"] as! Int) == 20, "\(own)")
        #expect((own["report"] as! String).contains("the data loader of this rank has not delivered step 20's samples"), "\(own)")
        #expect(job.seconds < 60, "the job took \(job.seconds) s")
    }

    func metricsLine(_ dir: TemporaryDirectory, step: Int) throws -> [String: Any] {
        let text = try String(contentsOfFile: "\(dir.path)/run/metrics.jsonl", encoding: .utf8)
        let lines = text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        return try #require(lines.first { $0["step"] as? Int == step && $0["loss"] != nil }, "no metrics line of step \(step)")
    }

    /// A NaN in one sample of trainer 1 at step 3: in its input (the loss is NaN) and, in a
    /// second run, in its loss gradient only (the loss is finite, the backward is not). Both
    /// are found by trainer 1 before the sum and named with the step, micro-batch, samples and
    /// tensor; the step is skipped on both trainers (their weights stay equal, checked every
    /// step) and the neighbours are not. With diag.max_skipped_in_a_row = 1 the job ends.
    @Test func nanInOneSampleIsLocated() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try makeData(dir)
        var sample: String? = nil
        for source in ["loss", "backward"] {
            try? FileManager.default.removeItem(atPath: "\(dir.path)/run")
            let job = try MPIRun.run(np: 2, uso, train(dir, steps: 6, ["--set", "data.micro_batch=2", "--set", "run.checksum_every=1"]),
                                     environment: ["USO_FAULT_NAN_SAMPLE": "1:3:\(source)"])
            try #require(job.exitCode == 0, "\(job.transcript)")
            let line = try metricsLine(dir, step: 3)
            #expect(line["skipped"] as? Bool == true, "\(line)")
            let reports = try #require(line["non_finite"] as? [String], "\(line)")
            #expect(reports.count == 1 && reports[0].hasPrefix("trainer 1, step 3, micro-batch 0, sample(s) ["), "\(reports)")
            #expect(reports[0].contains("first non-finite gradient in "), "\(reports)")
            #expect(job.stderr.contains("step 3 skipped (no update)") && job.stderr.contains("found before the sum by trainer 1"), "\(job.stderr)")
            let ids = reports[0].split(separator: "[")[1].split(separator: "]")[0]
            if source == "loss" {
                #expect(reports[0].contains("the loss is not finite") && !ids.contains(","), "one sample: \(reports)")
                sample = String(ids)
            } else {
                #expect(reports[0].contains("the loss is finite, the backward made a gradient non-finite"), "\(reports)")
                // The micro-batch's two samples, the poisoned one among them.
                #expect(ids.split(separator: ",").count == 2 && ids.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.contains(sample ?? "?"),
                        "\(ids) vs \(sample ?? "-")")
                #expect((line["loss"] as? Double)?.isFinite == true, "\(line)")
            }
            for s in [2, 4] { #expect(try metricsLine(dir, step: s)["skipped"] as? Bool == false) }
        }
        try? FileManager.default.removeItem(atPath: "\(dir.path)/run")
        let ended = try MPIRun.run(np: 2, uso, train(dir, steps: 6, ["--set", "diag.max_skipped_in_a_row=1"]),
                                   environment: ["USO_FAULT_NAN_SAMPLE": "1:3:loss"])
        #expect(ended.exitCode != 0)
        #expect(ended.stderr.contains("1 steps in a row skipped for non-finite values (diag.max_skipped_in_a_row = 1), the last at step 3")
                && ended.stderr.contains("trainer 1, step 3, micro-batch 0"), "\(ended.stderr)")
    }

    /// The reward rank stopped mid-run (stage uso, 2 trainers + 1 dedicated reward rank):
    /// training goes on with the misses counted, the drain at the end waits its deadline and
    /// names the reward rank that owes replies, the coordinator writes its final message, and
    /// the job's last barrier, which the stopped rank never reaches, is ended by the stall
    /// inspector naming it, not by mpirun's timeout.
    @Test func stoppedRewardRankDoesNotHangTheEnd() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TinyStages.rewardReady(dir)
        let run = "\(dir.path)/run"
        let board = "\(run)/diag/live/" + SharedBoard.fileName(rank: 2)
        let trainerBoard = "\(run)/diag/live/" + SharedBoard.fileName(rank: 0)
        final class Stop: @unchecked Sendable { var pid: Int32 = 0 }
        let stop = Stop()
        let job = try MPIRun.run(np: 3, uso, ["train", "--config", "Cluster/configs/tiny-uso-asr.toml".repoPath, "--progress", "none",
                                              "--set", "run.out=\(run)", "--set", "data.path=\(dir.path)/data/triplets",
                                              "--set", "run.init_weights=\(dir.path)/base/weights", "--set", "run.steps=12",
                                              "--set", "reward.start_step=0", "--set", "reward.mode=dedicated", "--set", "cluster.reward_ranks=1",
                                              "--set", "reward.csd_weights=\(dir.path)/csd/weights", "--set", "reward.deadline_ms=200",
                                              "--set", "diag.stall_warn_s=\(Self.warn)", "--set", "diag.stall_abort_s=\(Self.abort)"], timeout: 120) {
            for _ in 0..<600 {
                if let t = SharedBoard.read(trainerBoard), t.step >= 3, let b = SharedBoard.read(board) {
                    stop.pid = b.pid
                    kill(b.pid, SIGSTOP)
                    return
                }
                usleep(50_000)
            }
        }
        try #require(stop.pid > 0, "the reward rank's board never appeared: \(job.transcript)")
        #expect(job.stdout.contains("uso train: wrote \(run)/weights"), "no final message: \(job.transcript)")
        #expect(job.stderr.contains("reward replies are still owed (rank 2 owes"), "\(job.stderr)")
        #expect(job.stderr.contains("not arrived: rank 2 (reward rank 0") && job.stderr.contains("stopped or gone (pid \(stop.pid))"), "\(job.stderr)")
        #expect(job.exitCode != 0 && job.seconds < 90, "exit \(job.exitCode) after \(job.seconds) s")
        let metrics = try String(contentsOfFile: "\(run)/metrics.jsonl", encoding: .utf8)
        let misses = metrics.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .compactMap { $0["reward_misses"] as? Int }.reduce(0, +)
        #expect(misses > 0, "no reward misses counted")
        #expect(FileManager.default.fileExists(atPath: "\(run)/weights"), "weights not written")
    }
}
