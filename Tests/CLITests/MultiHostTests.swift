import FlightRecorder
import Foundation
import Testing
import USOTestSupport

/// Launches across two hosts (network namespaces with TCP between them, made by
/// Cluster/fake-hosts.sh): the spread layout sees the hosts, and the collectives work
/// over TCP at an odd rank count. Needs root and iproute2, which CI machines have.
@Suite(.serialized, .enabled(if: FakeHosts.available, "needs root and network namespaces"))
struct MultiHostTests {
    @Test func doctorSpreadsRewardRanksOverHosts() throws {
        let hostArgs = try FakeHosts.up(2, slots: 2)
        defer { FakeHosts.down() }
        let job = try MPIRun.run(np: 4, MPIRun.executable("uso"), ["doctor", "--reward-ranks", "2", "--placement", "spread"],
                                 timeout: 60, mpirunArguments: hostArgs)
        #expect(job.exitCode == 0, "\(job.transcript)")
        let rows = job.stdout.split(separator: "\n").filter { $0.contains("MPI_THREAD_FUNNELED") && !$0.contains("requested") }
            .map { $0.components(separatedBy: "  ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        try #require(rows.count == 4, "\(job.transcript)")
        #expect(rows.map { $0[2] } == ["usoh1", "usoh1", "usoh2", "usoh2"], "\(rows)")
        #expect(rows.map { $0[1] } == ["coordinator", "reward 0", "trainer 1", "reward 1"], "\(rows)")
        #expect(job.stdout.contains("trainers [0, 2] (coordinator 0), reward [1, 3] (spread)"))
    }

    /// `own_hosts` over two hosts of two ranks: reward 2 takes the second host whole; reward 1
    /// would leave a reward rank beside a trainer, and the job is refused before any rank works.
    @Test func ownHostsGivesTheRewardRanksAHostOrRefuses() throws {
        let hostArgs = try FakeHosts.up(2, slots: 2)
        defer { FakeHosts.down() }
        let uso = MPIRun.executable("uso")
        let whole = try MPIRun.run(np: 4, uso, ["doctor", "--reward-ranks", "2", "--placement", "own_hosts"],
                                   timeout: 60, mpirunArguments: hostArgs)
        #expect(whole.exitCode == 0, "\(whole.transcript)")
        #expect(whole.stdout.contains("trainers [0, 1] (coordinator 0), reward [2, 3] (own_hosts)"), "\(whole.transcript)")
        let split = try MPIRun.run(np: 4, uso, ["doctor", "--reward-ranks", "1", "--placement", "own_hosts"],
                                   timeout: 60, mpirunArguments: hostArgs)
        #expect(split.exitCode != 0 && split.exitCode != MPIRun.timeoutExitCode, "\(split.transcript)")
        let message = "--placement = \"own_hosts\" keeps reward ranks on hosts without trainers, but "
            + "--reward-ranks = 1 would put reward rank 3 on host usoh2 beside trainer rank 2 (hosts in rank order: "
            + "usoh1 (ranks 0-1), usoh2 (ranks 2-3)); set --reward-ranks = 2 (whole hosts from the last)"
        #expect(split.stderr.components(separatedBy: message).count == 2, "\(split.transcript)")
        #expect(!split.stdout.contains("MPI_THREAD_FUNNELED"), "a rank reported before the layout was refused: \(split.stdout)")
    }

    @Test func everyCommOperationOverTCPAtThreeRanks() throws {
        let hostArgs = try FakeHosts.up(2, slots: 2)
        defer { FakeHosts.down() }
        let out = try TemporaryDirectory(prefix: "uso-comm-check")
        defer { out.remove() }
        let job = try MPIRun.run(np: 3, MPIRun.executable("uso-comm-check"), [out.path], timeout: 180,
                                 mpirunArguments: hostArgs)
        #expect(job.exitCode == 0, "\(job.transcript)")
        for (r, results) in try ScenarioResult.read(from: out.url, ranks: 3).enumerated() {
            #expect(results.count >= 150, "rank \(r): \(results.count) results")
            for failed in results where !failed.ok { Issue.record("rank \(r) \(failed.scenario): \(failed.detail)") }
        }
    }

    /// Stage uso with a dedicated style reward across three hosts: two trainer hosts and a
    /// reward host (`cluster.placement = "own_hosts"`, one rank per host), over TCP. Every step's
    /// loss, gradient norm and reward equal the same job on one host (shared memory) within
    /// 1e-5 relative, and the run's diagnostics name each rank's host.
    @Test func stageUsoAcrossThreeHostsEqualsOneHost() throws {
        let uso = MPIRun.executable("uso")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TinyStages.rewardReady(dir, baseSteps: 4)
        func train(_ name: String, _ hostArgs: [String], placement: String) throws -> [[String: Any]] {
            let job = try MPIRun.run(np: 3, uso, ["train", "--config", "Cluster/configs/tiny-uso-asr.toml".repoPath, "--progress", "none",
                                                  "--set", "run.out=\(dir.path)/\(name)", "--set", "data.path=\(dir.path)/data/triplets",
                                                  "--set", "run.init_weights=\(dir.path)/base/weights", "--set", "run.steps=6",
                                                  "--set", "reward.start_step=0", "--set", "reward.mode=dedicated", "--set", "cluster.reward_ranks=1",
                                                  "--set", "cluster.placement=\(placement)", "--set", "reward.csd_weights=\(dir.path)/csd/weights"],
                                     timeout: 240, mpirunArguments: hostArgs)
            try #require(job.exitCode == 0, "\(job.transcript)")
            let text = try String(contentsOfFile: "\(dir.path)/\(name)/metrics.jsonl", encoding: .utf8)
            return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .filter { $0["loss"] != nil }
        }
        // One host: the reward rank is the last (tail); three: it has the third host (own_hosts), the same rank.
        let one = try train("one-host", [], placement: "tail")
        let hostArgs = try FakeHosts.up(3, slots: 1)
        defer { FakeHosts.down() }
        let three = try train("three-hosts", hostArgs, placement: "own_hosts")
        try #require(one.count == 6 && three.count == 6, "\(one.count) and \(three.count) steps")
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-5 * max(abs(a), abs(b), 1e-12) }
        for (a, b) in zip(one, three) {
            for key in ["loss", "grad_norm", "reward"] {
                let x = a[key] as? Double, y = b[key] as? Double
                #expect(x != nil && y != nil && close(x!, y!), "step \(a["step"] ?? "?") \(key): \(String(describing: x)) on one host, \(String(describing: y)) on three")
            }
        }
        #expect(three.contains { ($0["reward_samples"] as? Int ?? 0) > 0 }, "no rewarded sample")
        // The diagnostics name the hosts: rank r on usoh(r+1), the reward rank on the third.
        let clock = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir.path)/three-hosts/diag/clock.json"))) as? [String: Any])
        let ranks = clock["ranks"] as! [[String: Any]]
        #expect(ranks.map { $0["host"] as? String ?? "" } == ["usoh1", "usoh2", "usoh3"], "\(ranks)")
        #expect((ranks[2]["role"] as? String)?.hasPrefix("reward rank") == true, "\(ranks)")
        let trace = try MPIRun.runWithoutMPI(uso, ["diag", "timeline", "\(dir.path)/three-hosts", "--out", "\(dir.path)/trace.json"])
        #expect(trace.exitCode == 0, "\(trace.transcript)")
        let traceText = try String(contentsOfFile: "\(dir.path)/trace.json", encoding: .utf8)
        #expect(traceText.contains("rank 2 (reward rank 0) on usoh3") && traceText.contains("rank 0 (trainer 0, coordinator) on usoh1"), "host names missing from the trace")
    }

    /// The reward host's link cut mid-run (its `uso reward serve` outside the job, reached over
    /// TCP): replies stop, the samples waiting for them miss their deadline, the connection's
    /// user timeout ends it within seconds, each trainer reports the loss once, and the job
    /// trains every step to the end without the reward.
    @Test func aRewardHostCutOffIsReportedOnceAndTrainingGoesOn() throws {
        let uso = MPIRun.executable("uso")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TinyStages.rewardReady(dir)
        let hostArgs = try FakeHosts.up(3, slots: 1)
        defer { FakeHosts.down() }
        let file = "\(dir.path)/service.addr"
        let service = try BackgroundProgram(uso, ["reward", "serve", "--config", "Cluster/configs/tiny-uso-asr.toml".repoPath,
                                                  "--set", "reward.csd_weights=\(dir.path)/csd/weights", "--listen", "10.99.0.3:0",
                                                  "--address-file", file], host: 3)
        let address = try #require(BackgroundProgram.waitForLine(in: file, seconds: 60), "no service: \(service.stderr)")
        let run = "\(dir.path)/run"
        final class Cut: @unchecked Sendable { var at: Date? }
        let cut = Cut()
        let job = try MPIRun.run(np: 2, uso, ["train", "--config", "Cluster/configs/tiny-uso-asr.toml".repoPath, "--progress", "none",
                                              "--set", "run.out=\(run)", "--set", "data.path=\(dir.path)/data/triplets",
                                              "--set", "run.init_weights=\(dir.path)/base/weights", "--set", "run.steps=40",
                                              "--set", "reward.start_step=0", "--set", "cluster.reward_ranks=0", "--set", "reward.mode=service",
                                              "--set", "reward.service=\(address)", "--set", "reward.deadline_ms=1000", "--set", "run.save_every=10"],
                                 // The job's ranks on the trainer hosts only: an Open MPI daemon on the reward
                                 // host would tie the job to it (its loss ends the job).
                                 timeout: 240, mpirunArguments: hostArgs.map { $0.hasPrefix("usoh1:") ? "usoh1:1,usoh2:1" : $0 }) {
            guard TinyStages.board(of: run, rank: 0, atStep: 4) != nil else { return }
            FakeHosts.link(3, up: false)
            cut.at = Date()
        }
        let ended = Date()
        try #require(job.exitCode == 0, "\(job.transcript)")
        let cutAt = try #require(cut.at, "the job never reached step 4: \(job.transcript)")
        let lost = job.stderr.split(separator: "\n").filter { $0.contains("the reward service \(address) is lost at step") }
        #expect(lost.count == 2, "expected one report per trainer:\n\(job.stderr)")
        let m = try String(contentsOfFile: "\(run)/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.filter { $0["loss"] != nil }
        try #require(m.count == 40, "\(m.count) steps logged")
        let misses = m.reduce(0) { $0 + ($1["reward_misses"] as? Int ?? 0) }
        #expect(m.suffix(5).allSatisfy { ($0["reward_samples"] as? Int) == 0 }, "rewards after the cut")
        #expect(misses > 0 && job.stdout.contains("\(misses) lost (trained without it)"), "\(job.stdout)")
        print(String(format: "figure: reward host cut off at step 4: %@; %d rewarded samples lost; the job ended %.1f s after the cut",
                     String(lost.first?.split(separator: ";").first ?? "not reported"), misses, ended.timeIntervalSince(cutAt)))
        #expect(ended.timeIntervalSince(cutAt) < 60, "the job took \(ended.timeIntervalSince(cutAt)) s after the cut")
    }

    /// A disk that fills during a checkpoint of a job across two hosts (ZeRO-1: the trainer on
    /// each host writes its own optimizer shard into the run's shared folder, a 2 MB tmpfs):
    /// the job ends naming the file, the host and "No space left on device"; the half-written
    /// checkpoint is never complete, `latest` stays on the one before and it verifies.
    @Test func aDiskFillingDuringACheckpointAcrossHostsKeepsTheLastOne() throws {
        let uso = MPIRun.executable("uso")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try tinyBase(dir)
        let disk = "\(dir.path)/disk"
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        let mount = try MPIRun.runWithoutMPI("/bin/mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", disk])
        try #require(mount.exitCode == 0, "\(mount.transcript)")
        defer { _ = try? MPIRun.runWithoutMPI("/bin/umount", ["-l", disk]) }
        let run = "\(disk)/run"
        let hostArgs = try FakeHosts.up(2, slots: 1)
        defer { FakeHosts.down() }
        let job = try MPIRun.run(np: 2, uso, baseRun(dir, run, steps: 40, ["--set", "run.save_every=2", "--set", "run.keep_last=2",
                                                                          "--set", "optim.shard_state=true", "--set", "diag.recorder_spans=1024"]),
                                 timeout: 120, mpirunArguments: hostArgs)
        #expect(job.exitCode != 0 && job.exitCode != MPIRun.timeoutExitCode, "\(job.transcript)")
        #expect(job.stderr.contains("No space left on device") && job.stderr.contains("\(run)/checkpoints/step_"), "\(job.transcript)")
        #expect(job.stderr.contains("(host usoh1)") || job.stderr.contains("(host usoh2)"), "the host is not named: \(job.stderr)")
        let root = "\(run)/checkpoints"
        let latest = try String(contentsOfFile: "\(root)/latest", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let names = try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.hasPrefix("step_") }.sorted()
        let failed = try #require(names.last, "no checkpoint folder: \(names)")
        #expect(failed != latest && !FileManager.default.fileExists(atPath: "\(root)/\(failed)/DONE"), "\(names), latest \(latest)")
        let inspect = try MPIRun.runWithoutMPI(uso, ["ckpt", "inspect", "\(root)/\(latest)"])
        #expect(inspect.exitCode == 0 && inspect.stdout.contains("checksums: all"), "\(inspect.transcript)")
        let failedLine = job.stderr.split(separator: "\n").first { $0.contains("No space left") }.map(String.init) ?? ""
        #expect(failedLine.contains("\(root)/\(failed)"), "the first report is not the checkpoint's: \(failedLine)")
        print("figure: full disk across hosts: \(latest) stays latest; \(failed) never complete; \(failedLine)")
    }

    func tinyBase(_ dir: TemporaryDirectory) throws {
        let made = try MPIRun.runWithoutMPI(MPIRun.executable("uso"), ["data", "synth", "--out", "\(dir.path)/data", "--resolution", "32",
                                                                      "--triplets", "8", "--pairs", "32", "--style-images", "8"])
        try #require(made.exitCode == 0, "\(made.transcript)")
    }

    func baseRun(_ dir: TemporaryDirectory, _ run: String, steps: Int, _ extra: [String] = []) -> [String] {
        ["train", "--config", "Cluster/configs/tiny-base.toml".repoPath, "--progress", "none", "--set", "run.out=\(run)",
         "--set", "data.path=\(dir.path)/data/pairs", "--set", "run.init_weights=random", "--set", "run.steps=\(steps)"] + extra
    }

    /// A trainer host stopped (SIGSTOP of its ranks; its Open MPI daemon runs on): the
    /// stall inspector on the other host names the rank, its host and its last span, then
    /// ends the job at stall_abort_s.
    @Test func aStoppedHostIsNamedByTheStallInspector() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try tinyBase(dir)
        let hostArgs = try FakeHosts.up(2, slots: 1)
        defer { FakeHosts.down() }
        let run = "\(dir.path)/run"
        final class Stop: @unchecked Sendable { var at: Date? }
        let stop = Stop()
        let job = try MPIRun.run(np: 2, MPIRun.executable("uso"),
                                 baseRun(dir, run, steps: 1_000_000, ["--set", "diag.stall_warn_s=2", "--set", "diag.stall_abort_s=8"]),
                                 // The ranks re-execute themselves for their BLAS core (as on a CPU
                                 // OpenBLAS does not know) and must still be "uso" to ps and pkill.
                                 timeout: 120, environment: ["USO_FAKE_OPENBLAS_PICK": "Prescott"],
                                 unsetting: ["OPENBLAS_CORETYPE"], mpirunArguments: hostArgs) {
            guard TinyStages.board(of: run, rank: 1, atStep: 5) != nil else { return }
            _ = FakeHosts.signalHost(2, "STOP")
            stop.at = Date()
        }
        let stoppedAt = try #require(stop.at, "rank 1 never reached step 5: \(job.transcript)")
        #expect(job.exitCode != 0)
        #expect(job.stderr.contains("rank 1 (trainer 1, host usoh2)") && job.stderr.contains("stopped or gone"), "\(job.stderr)")
        #expect(job.stderr.contains("ending the job: waited more than diag.stall_abort_s"), "\(job.stderr)")
        let text = try String(contentsOfFile: "\(run)/diag/" + StallInspector.stallFile(0), encoding: .utf8)
        let first = try #require(text.split(separator: "\n").first.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
        #expect((first["time_unix"] as! Double) - stoppedAt.timeIntervalSince1970 <= 2 + 5, "\(first)")
        print(String(format: "figure: stopped host: named %.1f s after the stop, the job ended %.1f s after it",
                     (first["time_unix"] as! Double) - stoppedAt.timeIntervalSince1970, Date().timeIntervalSince(stoppedAt)))
        #expect(job.seconds < 90, "the job took \(job.seconds) s")
    }

    /// A trainer killed (kill -9) mid-run on the second host: the job ends within seconds
    /// naming the rank's host; the last complete checkpoint verifies and resumes on the
    /// remaining host at one trainer, bit for bit as the same resume on a fresh one-host run
    /// (losses, gradient norms and the weights file).
    @Test func aKilledTrainerEndsTheJobAndTheRunResumesOnTheOtherHost() throws {
        let uso = MPIRun.executable("uso")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try tinyBase(dir)
        let run = "\(dir.path)/run"
        var killedAt: Date? = nil
        do {
            let hostArgs = try FakeHosts.up(2, slots: 1)
            defer { FakeHosts.down() }
            final class Kill: @unchecked Sendable { var at: Date? }
            let kill9 = Kill()
            let job = try MPIRun.run(np: 2, uso, baseRun(dir, run, steps: 1_000_000, ["--set", "run.save_every=20", "--set", "run.keep_last=2"]),
                                     timeout: 120, mpirunArguments: hostArgs) {
                guard let b = TinyStages.board(of: run, rank: 1, atStep: 45, every: 20_000) else { return }
                kill(b.pid, SIGKILL)
                kill9.at = Date()
            }
            killedAt = kill9.at
            try #require(killedAt != nil, "rank 1 never reached step 45: \(job.transcript)")
            print(String(format: "figure: kill -9: the job ended %.1f s after the kill (exit %d)", Date().timeIntervalSince(killedAt!), job.exitCode))
            #expect(job.exitCode != 0)
            #expect(job.stderr.contains("usoh2") && job.stderr.contains("signal 9"), "\(job.transcript)")
            #expect(job.seconds - 0 < 120 && Date().timeIntervalSince(killedAt!) < 15, "ended \(Date().timeIntervalSince(killedAt!)) s after the kill")
        }
        let list = try MPIRun.runWithoutMPI(uso, ["ckpt", "list", run])
        #expect(list.exitCode == 0 && list.stdout.contains("latest"), "\(list.transcript)")
        let latest = try String(contentsOfFile: "\(run)/checkpoints/latest", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let inspect = try MPIRun.runWithoutMPI(uso, ["ckpt", "inspect", "\(run)/checkpoints/\(latest)"])
        #expect(inspect.exitCode == 0, "\(inspect.transcript)")
        // The same checkpoint, copied: one resume on the remaining host, one on plain localhost.
        let copy = "\(dir.path)/copy"
        try FileManager.default.copyItem(atPath: run, toPath: copy)
        let savedStep = Int(latest.split(separator: "_").last ?? "") ?? 0
        let target = savedStep + 10
        let hostArgs = try FakeHosts.up(2, slots: 1)
        let resumed = try MPIRun.run(np: 1, uso, ["train", "--resume", run, "--steps", String(target), "--progress", "none"],
                                     mpirunArguments: hostArgs.map { $0.hasPrefix("usoh1:") ? "usoh1:1" : $0 })
        FakeHosts.down()
        try #require(resumed.exitCode == 0, "\(resumed.transcript)")
        #expect(resumed.stdout.contains("was written by 2 trainer(s), resuming at 1"), "\(resumed.stdout)")
        let reference = try MPIRun.run(np: 1, uso, ["train", "--resume", copy, "--steps", String(target), "--progress", "none"])
        try #require(reference.exitCode == 0, "\(reference.transcript)")
        func tail(_ r: String) throws -> [String] {
            try String(contentsOfFile: "\(r)/metrics.jsonl", encoding: .utf8).split(separator: "\n")
                .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .filter { ($0["step"] as? Int ?? -1) >= savedStep && $0["loss"] != nil }
                .map { "\($0["step"]!) \($0["loss"]!) \($0["grad_norm"]!)" }
        }
        let a = try tail(run), b = try tail(copy)
        #expect(a.count == 10 && a == b, "\(a) vs \(b)")
        let wa = try Data(contentsOf: URL(fileURLWithPath: "\(run)/weights/base.safetensors"))
        let wb = try Data(contentsOf: URL(fileURLWithPath: "\(copy)/weights/base.safetensors"))
        let same = wa == wb
        #expect(same, "the weights differ")
    }

    /// A trainer host's link cut for good (its veth down): with the keepalive the launch
    /// options set, the job ends within 10 s naming the lost host, instead of hanging until
    /// mpirun's timeout.
    @Test func aCutLinkEndsTheJobNamingTheHost() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try tinyBase(dir)
        let hostArgs = try FakeHosts.up(2, slots: 1)
        defer { FakeHosts.down() }
        #expect(hostArgs.contains("oob_tcp_keepalive_time"), "\(hostArgs)")
        let run = "\(dir.path)/run"
        final class Cut: @unchecked Sendable { var at: Date? }
        let cut = Cut()
        let job = try MPIRun.run(np: 2, MPIRun.executable("uso"), baseRun(dir, run, steps: 1_000_000), timeout: 120, mpirunArguments: hostArgs) {
            guard TinyStages.board(of: run, rank: 1, atStep: 20) != nil else { return }
            FakeHosts.link(2, up: false)
            cut.at = Date()
        }
        let at = try #require(cut.at, "rank 1 never reached step 20: \(job.transcript)")
        print(String(format: "figure: cut link: the job ended %.1f s after the cut (exit %d)", Date().timeIntervalSince(at), job.exitCode))
        #expect(job.exitCode != 0 && job.stderr.contains("usoh2"), "\(job.transcript)")
        #expect(Date().timeIntervalSince(at) < 10 + 3, "the job ended \(Date().timeIntervalSince(at)) s after the cut")
    }

    /// A link that drops for 2 s and comes back: the job rides it out and trains every step.
    @Test func aLinkDroppingForTwoSecondsIsRiddenOut() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try tinyBase(dir)
        let hostArgs = try FakeHosts.up(2, slots: 1)
        defer { FakeHosts.down() }
        let run = "\(dir.path)/run"
        let steps = 400
        final class Drop: @unchecked Sendable { var done = false }
        let drop = Drop()
        let job = try MPIRun.run(np: 2, MPIRun.executable("uso"), baseRun(dir, run, steps: steps), timeout: 120, mpirunArguments: hostArgs) {
            guard TinyStages.board(of: run, rank: 1, atStep: 20, every: 20_000) != nil else { return }
            FakeHosts.link(2, up: false)
            sleep(2)
            FakeHosts.link(2, up: true)
            drop.done = true
        }
        #expect(drop.done, "the link was never dropped (the run ended first?)")
        #expect(job.exitCode == 0, "\(job.transcript)")
        let lines = try String(contentsOfFile: "\(run)/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.filter { $0["loss"] != nil }
        #expect(lines.last?["step"] as? Int == steps - 1, "last step \(String(describing: lines.last?["step"]))")
        #expect(lines.contains { ($0["step_seconds"] as? Double ?? 0) > 1.5 }, "no step spans the 2 s drop")
    }
}
