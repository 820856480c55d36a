import Foundation
import Testing
import USOTestSupport

/// The test harness's own promises: a job that leaves a daemon behind ends when the job
/// ends (Foundation's Process waited for the daemon: a CI run hung for 90 minutes on munged),
/// a job past its deadline is killed with its process group, saying so, and a job inherits
/// none of the test process's descriptors.
@Suite struct HarnessTests {
    @Test func aDaemonLeftBehindDoesNotHoldTheJob() throws {
        let job = try MPIRun.runWithoutMPI("/bin/sh", ["-c", "sleep 20 & echo started"])
        #expect(job.exitCode == 0 && job.stdout == "started\n", "\(job.transcript)")
        #expect(job.seconds < 10, "the job took \(job.seconds) s: the harness waited for its background child")
    }

    @Test func aJobPastItsDeadlineIsKilledWithItsChildren() throws {
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("uso-harness-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: marker) }
        // The child's own child would touch the marker after 4 s if it outlived the kill at 1 s.
        let job = try MPIRun.runWithoutMPI("/bin/sh", ["-c", "(sleep 4; touch \(marker)) & sleep 30"], deadline: 1)
        #expect(job.exitCode == 128 + 9 && job.seconds < 5, "\(job.transcript)")
        #expect(job.stderr.contains("still running after the test's deadline of 1 s"), "\(job.transcript)")
        Thread.sleep(forTimeInterval: 4.5)
        #expect(!FileManager.default.fileExists(atPath: marker), "the job's background child outlived the kill")
    }

    @Test func aChildInheritsNoDescriptorOfTheTests() throws {
        // Tests run in parallel: a child holding another test's open HDF5 file holds its lock.
        let held = open("/proc/self/exe", O_RDONLY)
        defer { close(held) }
        let job = try MPIRun.runWithoutMPI("/bin/ls", ["/proc/self/fd"])
        let fds = Set(job.stdout.split(separator: "\n").compactMap { Int($0) })
        #expect(job.exitCode == 0 && fds.isSubset(of: [0, 1, 2, 3]), "the child holds descriptors \(fds.sorted()) (the test holds \(held))")
    }

    @Test func exitStatusesAndSignalsAreReportedAsAShellDoes() throws {
        #expect(try MPIRun.runWithoutMPI("/bin/sh", ["-c", "exit 3"]).exitCode == 3)
        #expect(try MPIRun.runWithoutMPI("/bin/sh", ["-c", "kill -TERM $$"]).exitCode == 128 + 15)
    }
}
