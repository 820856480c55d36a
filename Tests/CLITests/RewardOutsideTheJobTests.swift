import Foundation
import Testing
import USOTestSupport

/// The style reward served outside the training job (`uso reward serve`, `reward.mode =
/// "service"`): the same rewards, losses and gradient norms as reward ranks inside the job;
/// a service killed mid-run is reported once per trainer and training goes on without it,
/// every step logged, its misses counted, the lost samples said at the end; with
/// `reward.required = true` the same kill ends the job at once and the latest checkpoint
/// still verifies; a service that cannot be reached at start is reported, or an error.
@Suite(.serialized)
struct RewardOutsideTheJobTests {
    let uso = MPIRun.executable("uso")

    func metrics(_ run: String) throws -> [[String: Any]] {
        try String(contentsOfFile: "\(run)/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["loss"] != nil }
    }

    func trainArguments(_ dir: TemporaryDirectory, run: String, steps: Int, _ extra: [String]) -> [String] {
        ["train", "--config", "Cluster/configs/tiny-uso-asr.toml".repoPath, "--progress", "none",
         "--set", "run.out=\(run)", "--set", "data.path=\(dir.path)/data/triplets",
         "--set", "run.init_weights=\(dir.path)/base/weights", "--set", "run.steps=\(steps)",
         "--set", "reward.start_step=0", "--set", "reward.csd_weights=\(dir.path)/csd/weights", "--set", "cluster.reward_ranks=0"] + extra
    }

    /// Starts a service on a free local port; returns it and its address.
    func startService(_ dir: TemporaryDirectory, _ name: String) throws -> (BackgroundProgram, String) {
        let file = "\(dir.path)/\(name).addr"
        let service = try BackgroundProgram(uso, ["reward", "serve", "--config", "Cluster/configs/tiny-uso-asr.toml".repoPath,
                                                  "--set", "reward.csd_weights=\(dir.path)/csd/weights", "--listen", "127.0.0.1:0",
                                                  "--address-file", file])
        let address = try #require(BackgroundProgram.waitForLine(in: file, seconds: 60), "the service never listened: \(service.stderr)")
        return (service, address)
    }

    @Test func aServiceGivesTheSameTrainingAsRewardRanksInTheJob() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TinyStages.rewardReady(dir)
        let (service, address) = try startService(dir, "service")
        let viaService = try MPIRun.run(np: 2, uso, trainArguments(dir, run: "\(dir.path)/service", steps: 6,
                                                                   ["--set", "reward.mode=service", "--set", "reward.service=\(address)"]), timeout: 240)
        try #require(viaService.exitCode == 0, "\(viaService.transcript)")
        #expect(service.wait(deadline: 30) == 0, "the service did not end with its trainers: \(service.stdout)\(service.stderr)")
        #expect(service.stdout.contains("requests from 2 trainer(s) (2 stopped, 0 gone)"), "\(service.stdout)")
        let inJob = try MPIRun.run(np: 3, uso, trainArguments(dir, run: "\(dir.path)/ranks", steps: 6,
                                                              ["--set", "reward.mode=dedicated", "--set", "cluster.reward_ranks=1"]), timeout: 240)
        try #require(inJob.exitCode == 0, "\(inJob.transcript)")
        let a = try metrics("\(dir.path)/service"), b = try metrics("\(dir.path)/ranks")
        try #require(a.count == 6 && b.count == 6, "\(a.count) and \(b.count) steps")
        for (x, y) in zip(a, b) {
            for key in ["loss", "grad_norm", "reward", "reward_samples", "reward_misses"] {
                #expect("\(x[key] ?? "none")" == "\(y[key] ?? "none")", "step \(x["step"] ?? "?") \(key): \(x[key] ?? "none") via the service, \(y[key] ?? "none") from a reward rank")
            }
        }
        // The samples of every step that have a style reference are rewarded, and none misses.
        #expect(a.allSatisfy { ($0["reward_samples"] as? Int ?? 0) > 0 && ($0["reward_misses"] as? Int) == 0 }, "\(a)")
    }

    /// Trains `steps` steps at 2 trainers through a fresh service and kills it (SIGKILL) once
    /// trainer 0 reaches `killStep`; returns the job, the service's address and the seconds
    /// from the kill to the job's end (-1 if the kill never came).
    func trainKillingTheService(_ dir: TemporaryDirectory, run: String, steps: Int, killStep: Int,
                                _ extra: [String]) throws -> (job: MPIRun.Outcome, address: String, afterKill: Double) {
        let (service, address) = try startService(dir, "service")
        let killedAt = Locked<Date?>(nil)
        let job = try MPIRun.run(np: 2, uso, trainArguments(dir, run: run, steps: steps,
                                                            ["--set", "reward.mode=service", "--set", "reward.service=\(address)"] + extra),
                                 timeout: 240) {
            _ = TinyStages.board(of: run, rank: 0, atStep: killStep)
            service.signal(SIGKILL)
            killedAt.set(Date())
        }
        let ended = Date()
        return (job, address, killedAt.get().map { ended.timeIntervalSince($0) } ?? -1)
    }

    @Test func aKilledServiceIsReportedOnceAndTrainingGoesOn() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TinyStages.rewardReady(dir)
        let run = "\(dir.path)/run"
        let (job, address, after) = try trainKillingTheService(dir, run: run, steps: 24, killStep: 4, ["--set", "run.save_every=4"])
        try #require(job.exitCode == 0, "\(job.transcript)")
        let lost = job.stderr.split(separator: "\n").filter { $0.contains("reward service \(address) is lost at step") }
        #expect(lost.count == 2, "expected one report per trainer:\n\(job.stderr)")
        for t in 0..<2 { #expect(lost.contains { $0.hasPrefix("uso train: trainer \(t): ") }, "trainer \(t) did not report:\n\(job.stderr)") }
        #expect(lost.allSatisfy { $0.contains("training goes on") && $0.contains("no reward server is left") }, "\(lost)")
        let m = try metrics(run)
        try #require(m.count == 24, "\(m.count) steps logged:\n\(job.transcript)")
        #expect((m.first?["reward_samples"] as? Int ?? 0) > 0 && (m.first?["reward_misses"] as? Int) == 0, "\(m.first ?? [:])")
        // After the loss every sample that would have been rewarded trains without it, counted as a miss.
        let last = m.suffix(4)
        #expect(last.allSatisfy { ($0["reward_samples"] as? Int) == 0 && ($0["reward_misses"] as? Int ?? 0) > 0 }, "\(Array(last))")
        let misses = m.reduce(0) { $0 + ($1["reward_misses"] as? Int ?? 0) }
        let answered = m.reduce(0) { $0 + ($1["reward_samples"] as? Int ?? 0) }
        #expect(misses > 0 && answered > 0, "\(misses) misses, \(answered) rewarded")
        #expect(job.stdout.contains("uso train: the style reward: \(answered + misses) rewarded samples, \(answered) answered; \(misses) lost (trained without it): "
                                    + "0 past reward.deadline_ms, \(misses) to a lost reward service"), "\(job.stdout)")
        print("figure: reward service killed: the job trained on and ended \(String(format: "%.1f", after)) s after the kill, \(misses) of \(answered + misses) rewarded samples lost")
        #expect(after >= 0 && after < 60, "the job took \(after) s after the kill")
    }

    @Test func aLostServiceEndsTheJobWhenTheRewardIsRequired() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TinyStages.rewardReady(dir)
        let run = "\(dir.path)/run"
        let (job, _, after) = try trainKillingTheService(dir, run: run, steps: 200, killStep: 5,
                                                         ["--set", "reward.required=true", "--set", "run.save_every=2"])
        #expect(job.exitCode != 0 && job.exitCode != MPIRun.timeoutExitCode, "\(job.transcript)")
        #expect(job.stderr.contains("is lost at step") && job.stderr.contains("reward.required = true: ending the job"), "\(job.transcript)")
        print("figure: reward service killed with reward.required = true: the job ended \(String(format: "%.1f", after)) s after the kill")
        #expect(after >= 0 && after < 20, "the job took \(after) s to end after the kill")
        // What was complete before stays complete and loadable (a save the abort cut short is
        // listed as incomplete, never as latest).
        let root = "\(run)/checkpoints"
        let latest = try String(contentsOfFile: "\(root)/latest", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(FileManager.default.fileExists(atPath: "\(root)/\(latest)/DONE"), "latest \(latest) has no DONE")
        let inspect = try MPIRun.runWithoutMPI(uso, ["ckpt", "inspect", "\(root)/\(latest)"])
        #expect(inspect.exitCode == 0, "\(inspect.transcript)")
        #expect((Int(latest.dropFirst(5)) ?? 0) >= 4, "latest is \(latest), the kill came at step 5")
    }

    @Test func anUnreachableServiceAtStartIsReportedOrAnError() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TinyStages.rewardReady(dir)
        // Nothing listens on a port bound and closed just now.
        let nowhere = "127.0.0.1:\(TCPPort.unused())"
        let soft = try MPIRun.run(np: 2, uso, trainArguments(dir, run: "\(dir.path)/soft", steps: 3,
                                                             ["--set", "reward.mode=service", "--set", "reward.service=\(nowhere)",
                                                              "--set", "reward.connect_timeout_s=0.5"]), timeout: 120)
        try #require(soft.exitCode == 0, "\(soft.transcript)")
        let reports = soft.stderr.split(separator: "\n").filter { $0.contains("reward service \(nowhere) is lost at step") }
        #expect(reports.count == 2 && reports.allSatisfy { $0.contains("cannot connect within 0.5 s: Connection refused") }, "\(soft.stderr)")
        #expect(try metrics("\(dir.path)/soft").allSatisfy { ($0["reward_samples"] as? Int) == 0 && ($0["reward_misses"] as? Int ?? 0) > 0 })
        let hard = try MPIRun.run(np: 2, uso, trainArguments(dir, run: "\(dir.path)/hard", steps: 3,
                                                             ["--set", "reward.mode=service", "--set", "reward.service=\(nowhere)",
                                                              "--set", "reward.connect_timeout_s=0.5", "--set", "reward.required=true"]), timeout: 120)
        #expect(hard.exitCode != 0 && hard.exitCode != MPIRun.timeoutExitCode, "\(hard.transcript)")
        #expect(hard.stderr.contains("cannot connect within 0.5 s: Connection refused) and reward.required = true: ending the job"), "\(hard.transcript)")
    }
}

/// A value shared between a test and its `whileRunning` thread.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ v: Value) { value = v }
    func get() -> Value { lock.lock(); defer { lock.unlock() }; return value }
    func set(_ v: Value) { lock.lock(); value = v; lock.unlock() }
}

/// A local TCP port nothing listens on (bound, read and closed).
enum TCPPort {
    static func unused() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return UInt16(bigEndian: addr.sin_port)
    }
}
