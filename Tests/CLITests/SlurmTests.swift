import Foundation
import Testing
import USOTestSupport

/// `Cluster/uso.sbatch` under Slurm for real: a one-node cluster on this machine
/// (`Cluster/slurm-local.sh`: munged, slurmctld and slurmd from Debian's slurm-wlm and munge)
/// runs the script for `uso doctor` and for a short training run, as sbatch runs it (a copy in
/// its spool folder); the job output shows the ranks, their roles, the BLAS core and the
/// losses. Skipped, saying so, where Slurm is not installed or we are not root.
@Suite(.serialized, .enabled(if: SlurmCluster.available, "needs root, slurm-wlm and munge (Scripts/bootstrap.sh installs them)"))
struct SlurmTests {
    static let script = FakeHosts.repositoryRoot.appendingPathComponent("Cluster/slurm-local.sh").path

    /// Runs `sbatch --wait` with `arguments` for uso.sbatch; returns the job's output file's text.
    func submit(_ dir: TemporaryDirectory, _ name: String, _ arguments: [String]) throws -> (MPIRun.Outcome, String) {
        let out = "\(dir.path)/\(name)-%j.out"
        // `timeout`: a job Slurm cannot launch is held, and `sbatch --wait` would wait for it forever.
        let job = try MPIRun.runWithoutMPI("/usr/bin/timeout", ["300", "/usr/bin/sbatch", "--wait", "--nodes=1", "--ntasks-per-node=2", "--time=00:05:00",
                                                              "--output=\(out)", "Cluster/uso.sbatch".repoPath] + arguments,
                                          environment: ["SLURM_CONF": "\(dir.path)/slurm/slurm.conf", "USO_ROOT": FakeHosts.repositoryRoot.path])
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("\(name)-") && $0.hasSuffix(".out") }) ?? []
        let text = try files.first.map { try String(contentsOfFile: "\(dir.path)/\($0)", encoding: .utf8) } ?? ""
        return (job, text)
    }

    @Test func usoSbatchRunsDoctorAndTrainingUnderSlurm() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let up = try MPIRun.runWithoutMPI(Self.script, ["up", "\(dir.path)/slurm"])
        defer { _ = try? MPIRun.runWithoutMPI(Self.script, ["down", "\(dir.path)/slurm"]) }
        try #require(up.exitCode == 0, "\(up.transcript)")

        defer { _ = try? MPIRun.runWithoutMPI("/usr/bin/scancel", ["--user", "root"], environment: ["SLURM_CONF": "\(dir.path)/slurm/slurm.conf"]) }
        let (doctor, report) = try submit(dir, "doctor", ["doctor", "--reward-ranks", "1"])
        #expect(doctor.exitCode == 0, "\(doctor.transcript)\n\(report)")
        #expect(report.contains("uso.sbatch: job ") && report.contains("on 1 nodes, 2 ranks: uso doctor"), "\(report)")
        #expect(report.contains("2 ranks: trainers [0] (coordinator 0), reward [1]"), "\(report)")
        #expect(report.contains("coordinator") && report.contains("reward 0") && report.contains("BLAS core: "), "\(report)")

        let uso = MPIRun.executable("uso")
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", "\(dir.path)/data", "--resolution", "32", "--triplets", "8",
                                                  "--pairs", "32", "--style-images", "8"])
        try #require(made.exitCode == 0, "\(made.transcript)")
        let (train, log) = try submit(dir, "train", ["train", "--config", "Cluster/configs/tiny-base.toml".repoPath, "--progress", "lines",
                                                      "--set", "run.out=\(dir.path)/run", "--set", "data.path=\(dir.path)/data/pairs",
                                                      "--set", "run.init_weights=random", "--set", "run.steps=6"])
        #expect(train.exitCode == 0, "\(train.transcript)\n\(log)")
        #expect(log.contains("uso train: stage base, preset tiny, 2 trainer(s)"), "\(log)")
        #expect(log.contains("uso train: wrote \(dir.path)/run/weights"), "\(log)")
        let losses = log.split(separator: "\n").filter { $0.contains("loss") && $0.contains("step") }
        #expect(losses.count >= 2, "no loss lines in the job's output:\n\(log)")
    }
}

/// Whether a one-node Slurm cluster can start here.
enum SlurmCluster {
    static let available = geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/slurmctld")
        && FileManager.default.isExecutableFile(atPath: "/usr/sbin/munged") && FileManager.default.isExecutableFile(atPath: "/usr/bin/sbatch")
}
