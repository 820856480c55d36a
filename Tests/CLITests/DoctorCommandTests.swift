import Foundation
import TensorCore
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

    /// `cluster.placement = "own_hosts"` on one host: the reward rank would share it with the
    /// trainers. Refused once, on rank 0, before any rank starts work (no run folder).
    @Test func aRewardRankBesideATrainerIsRefusedBeforeAnyRankWorks() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = try dir.write("run.toml", """
            [run]
            stage = "uso"
            preset = "tiny"
            out = "\(dir.path)/run"
            [data]
            path = "\(dir.path)/data"
            [reward]
            mode = "dedicated"
            [cluster]
            reward_ranks = 1
            placement = "own_hosts"
            """)
        let job = try MPIRun.run(np: 2, uso, ["train", "--config", config], timeout: 60)
        #expect(job.exitCode != 0 && job.exitCode != MPIRun.timeoutExitCode, "\(job.transcript)")
        let message = "uso train: error: cluster.placement = \"own_hosts\" keeps reward ranks on hosts without trainers, "
            + "but cluster.reward_ranks = 1 would put reward rank 1 on host "
        #expect(job.stderr.components(separatedBy: message).count == 2, "\(job.transcript)")
        #expect(job.stderr.contains("beside trainer rank 0 (hosts in rank order: "), "\(job.transcript)")
        #expect(job.stderr.contains("own_hosts needs at least two hosts"), "\(job.transcript)")
        #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/run"), "the refused job made its run folder")
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

    // MARK: Hostfiles

    /// Cluster/launch-local.sh checks a hostfile before mpirun starts anything: an unknown
    /// host is named with its file and line, too few slots with the file, the slots and -np.
    @Test func aBadHostfileStopsTheLaunchBeforeAnyRank() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let launch = FakeHosts.repositoryRoot.appendingPathComponent("Cluster/launch-local.sh").path
        let unknown = "\(dir.path)/unknown", few = "\(dir.path)/few", twice = "\(dir.path)/twice", good = "\(dir.path)/good"
        try "# two hosts\nlocalhost slots=1\nnode-that-does-not-exist.invalid slots=2\n".write(toFile: unknown, atomically: true, encoding: .utf8)
        try "localhost slots=2  # two cores\n".write(toFile: few, atomically: true, encoding: .utf8)
        try "localhost slots=1\n\nlocalhost slots=1\n".write(toFile: twice, atomically: true, encoding: .utf8)
        try "localhost slots=2\n".write(toFile: good, atomically: true, encoding: .utf8)

        let a = try MPIRun.runWithoutMPI(launch, ["-np", "2", "--hostfile", unknown, "uso", "doctor"])
        #expect(a.exitCode == 68 && a.stderr.contains("hostfile \(unknown) line 3: host 'node-that-does-not-exist.invalid' is unknown")
                && a.stderr.contains("No rank was started") && a.stdout.isEmpty, "\(a.transcript)")
        let b = try MPIRun.runWithoutMPI(launch, ["-np", "3", "--hostfile", few, "uso", "doctor"])
        #expect(b.exitCode == 65 && b.stderr.contains("hostfile \(few) gives 2 slots in all (localhost 2) for -np 3")
                && b.stdout.isEmpty, "\(b.transcript)")
        let d = try MPIRun.runWithoutMPI(launch, ["-np", "2", "--hostfile", twice, "uso", "doctor"])
        #expect(d.exitCode == 65 && d.stderr.contains("hostfile \(twice) line 3: host 'localhost' is listed again (first on line 1)"), "\(d.transcript)")
        let c = try MPIRun.runWithoutMPI(launch, ["-np", "1", "--hostfile", "\(dir.path)/missing", "uso", "doctor"])
        #expect(c.exitCode == 66 && c.stderr.contains("hostfile \(dir.path)/missing: cannot read it"), "\(c.transcript)")
        // A good hostfile passes the check and the job runs.
        let ok = try MPIRun.runWithoutMPI(launch, ["-np", "2", "--timeout", "60", "--hostfile", good, "uso", "doctor"])
        #expect(ok.exitCode == 0 && ok.stdout.contains("uso doctor: 2 ranks"), "\(ok.transcript)")
    }

    // MARK: BLAS kernels

    /// OpenBLAS "falls back" (the fake pick stands for 0.3.21 on a CPU it does not know):
    /// every rank re-executes itself with the best core for its features, before MPI starts.
    @Test func everyRankRunsTheCoreUsoChooses() throws {
        let job = try MPIRun.run(np: 3, uso, ["doctor", "--reward-ranks", "1"], timeout: 60,
                                 environment: ["USO_FAKE_OPENBLAS_PICK": "Prescott"], unsetting: ["OPENBLAS_CORETYPE"])
        #expect(job.exitCode == 0, "\(job.transcript)")
        let r = rows(job.stdout)
        try #require(r.count == 3 && r.allSatisfy { $0.count == 9 }, "\(job.transcript)")
        if let best = OpenBLASCores.best(for: .host) {
            #expect(r.allSatisfy { $0[6] == best && $0[7] == "uso" }, "\(r)")
            #expect(job.stdout.contains("BLAS core: \(best), chosen by uso from the CPU's features (OpenBLAS alone picked Prescott)"),
                    "\(job.stdout)")
        } else {
            // Below AVX (or not x86-64) there is nothing better to choose.
            #expect(r.allSatisfy { $0[7] == "OpenBLAS" }, "\(r)")
        }
        #expect(!job.stdout.contains("ranks run different BLAS kernels"), "\(job.stdout)")
    }

    /// A user's OPENBLAS_CORETYPE wins, on every rank, with a warning when it is older than the CPU allows.
    @Test func usersCoreTypeWinsWithAWarning() throws {
        let job = try MPIRun.run(np: 2, uso, ["doctor"], timeout: 60, environment: ["OPENBLAS_CORETYPE": "Prescott"])
        #expect(job.exitCode == 0, "\(job.transcript)")
        let r = rows(job.stdout)
        try #require(r.count == 2 && r.allSatisfy { $0.count == 9 }, "\(job.transcript)")
        #expect(r.allSatisfy { $0[6] == "Prescott" && $0[7] == "user" }, "\(r)")
        if let best = OpenBLASCores.best(for: .host) {
            for rank in 0..<2 {
                #expect(job.stdout.contains("WARNING: rank \(rank): OpenBLAS runs its Prescott kernels on a CPU that runs \(best)'s"),
                        "\(job.stdout)")
            }
        }
    }

    /// A name OpenBLAS does not know is an error in `uso doctor` (exit 1, every rank named)
    /// and stops every other command before it starts.
    @Test func unknownCoreTypeIsAnError() throws {
        let job = try MPIRun.run(np: 2, uso, ["doctor"], timeout: 60, environment: ["OPENBLAS_CORETYPE": "Skylake-X"])
        #expect(job.exitCode != 0 && job.exitCode != MPIRun.timeoutExitCode, "\(job.transcript)")
        for rank in 0..<2 {
            #expect(job.stdout.contains("ERROR: rank \(rank): OPENBLAS_CORETYPE is 'Skylake-X', which OpenBLAS does not know"),
                    "\(job.stdout)")
        }
        #expect(job.stdout.contains("SkylakeX, Cooperlake"), "\(job.stdout)")
        let info = try MPIRun.runWithoutMPI(uso, ["model", "info", "--preset", "tiny"], environment: ["OPENBLAS_CORETYPE": "Skylake-X"])
        #expect(info.exitCode == 2, "\(info.transcript)")
        #expect(info.stderr.contains("uso: error: OPENBLAS_CORETYPE is 'Skylake-X', which OpenBLAS does not know"), "\(info.transcript)")
        #expect(info.stdout.isEmpty, "\(info.transcript)")
    }
}
