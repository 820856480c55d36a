import Config
import Foundation
import Testing
import USOTestSupport

/// The config documentation cannot drift: Cluster/configs/README.md holds exactly what
/// `uso train --help-config --markdown` prints, and every example config parses.
struct ConfigDocsTests {
    @Test func readmeHoldsTheGeneratedKeyTable() throws {
        let job = try MPIRun.runWithoutMPI(MPIRun.executable("uso"), ["train", "--help-config", "--markdown"])
        #expect(job.exitCode == 0)
        let readme = try String(contentsOf: FakeHosts.repositoryRoot.appendingPathComponent("Cluster/configs/README.md"), encoding: .utf8)
        #expect(readme.contains(job.stdout.trimmingCharacters(in: .whitespacesAndNewlines)),
                "Cluster/configs/README.md is out of date: regenerate its table with uso train --help-config --markdown")
    }

    @Test func everyExampleConfigParses() throws {
        let folder = FakeHosts.repositoryRoot.appendingPathComponent("Cluster/configs")
        let configs = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".toml") }
        #expect(configs.count >= 8)
        for name in configs {
            let c = try RunConfig.load(path: folder.appendingPathComponent(name).path)
            #expect(name.hasPrefix(c.run.preset.rawValue + "-") && name.contains(c.run.stage.rawValue), "\(name) says \(c.run.stage) at \(c.run.preset)")
        }
    }
}
