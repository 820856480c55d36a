import Foundation
import Testing
import USOTestSupport

/// `uso doctor` under mpirun and without it: the rows, the roles, the versions, the errors.
@Suite(.serialized)
struct DoctorCommandTests {
    let uso = MPIRun.executable("uso")

    /// The table rows: "rank role host pid level threads" split on runs of spaces.
    func rows(_ stdout: String) -> [[String]] {
        stdout.split(separator: "\n").map(String.init)
            .filter { $0.contains("MPI_THREAD_") && !$0.contains("requested") }
            .map { line in
                // Roles "trainer 1" and "reward 0" hold one space; columns are 2+ apart.
                line.components(separatedBy: "  ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            }
    }

    @Test func runsWithoutMPIRunAsAWorldOfOne() throws {
        let job = try MPIRun.runWithoutMPI(uso, ["doctor"], environment: ["OPENBLAS_NUM_THREADS": "1"])
        #expect(job.exitCode == 0, "\(job.transcript)")
        let r = rows(job.stdout)
        #expect(r.count == 1, "\(job.transcript)")
        #expect(r.first?[0] == "0" && r.first?[1] == "coordinator", "\(job.transcript)")
        #expect(job.stdout.contains("uso doctor: 1 rank: trainers [0] (coordinator 0), reward [] (tail)"))
        #expect(job.stdout.contains("Open MPI:  Open MPI v4."), "\(job.stdout)")
        #expect(job.stdout.contains("OpenBLAS:  OpenBLAS 0."), "\(job.stdout)")
        #expect(job.stdout.contains("HDF5:      1.1"), "\(job.stdout)")
    }

    @Test func showsEveryRankWithItsRole() throws {
        let job = try MPIRun.run(np: 3, uso, ["doctor", "--reward-ranks", "1", "--placement", "spread"], timeout: 60)
        #expect(job.exitCode == 0, "\(job.transcript)")
        let r = rows(job.stdout)
        try #require(r.count == 3, "\(job.transcript)")
        #expect(r.map { $0[0] } == ["0", "1", "2"])
        #expect(r.map { $0[1] } == ["coordinator", "trainer 1", "reward 0"])
        #expect(r.allSatisfy { $0[4] == "MPI_THREAD_FUNNELED" && $0[5] == "1" }, "\(r)")
        #expect(Set(r.map { $0[3] }).count == 3, "pids are not distinct: \(r)")
        #expect(job.stdout.contains("All 3 ranks run the same library versions."))
        // Printed once, by rank 0.
        #expect(job.stdout.components(separatedBy: "uso doctor:").count == 2, "\(job.stdout)")
    }

    @Test func readsTheLayoutFromAConfigFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = try dir.write("run.toml", "[cluster]\nreward_ranks = 2\nplacement = \"tail\"\n")
        let job = try MPIRun.run(np: 4, uso, ["doctor", "--config", config], timeout: 60)
        #expect(job.exitCode == 0, "\(job.transcript)")
        #expect(rows(job.stdout).map { $0[1] } == ["coordinator", "trainer 1", "reward 0", "reward 1"], "\(job.transcript)")
        #expect(job.stdout.contains("4 ranks: trainers [0, 1] (coordinator 0), reward [2, 3] (tail)"))
    }

    @Test func impossibleLayoutIsRejectedOnceWithKeyAndWorldSize() throws {
        let job = try MPIRun.run(np: 2, uso, ["doctor", "--reward-ranks", "2"], timeout: 60)
        #expect(job.exitCode != 0 && job.exitCode != MPIRun.timeoutExitCode, "\(job.transcript)")
        let message = "--reward-ranks = 2 leaves no trainer rank in a world of 2 ranks"
        #expect(job.stderr.components(separatedBy: message).count == 2, "\(job.transcript)")
        #expect(rows(job.stdout).isEmpty)
    }

    @Test func badConfigNamesFileAndKey() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = try dir.write("bad.toml", "[cluster]\nreward_ranks = 1\nplacment = \"tail\"\n")
        let job = try MPIRun.run(np: 2, uso, ["doctor", "--config", config], timeout: 60)
        #expect(job.exitCode != 0 && job.exitCode != MPIRun.timeoutExitCode, "\(job.transcript)")
        let message = "\(config): cluster.placment: unknown key in [cluster]; allowed keys: reward_ranks, placement"
        #expect(job.stderr.components(separatedBy: message).count == 2, "\(job.transcript)")
    }
}
