import Config
import Foundation
import Testing

/// Config files: what is accepted, and the error for each kind of mistake.
struct RunConfigTests {
    @Test func emptyDocumentGivesDefaults() throws {
        let c = try RunConfig.parse("")
        #expect(c.cluster.rewardRanks == 0)
        #expect(c.cluster.placement == .tail)
    }

    @Test func clusterTableIsRead() throws {
        let c = try RunConfig.parse("[cluster]\nreward_ranks = 2\nplacement = \"spread\"\n")
        #expect(c.cluster == ClusterConfig(rewardRanks: 2, placement: .spread))
    }

    private func message(_ text: String, source: String = "run.toml") -> String {
        do {
            _ = try RunConfig.parse(text, source: source)
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    @Test func unknownKeyNamesTheKeyAndWhatIsAllowed() {
        #expect(message("[cluster]\nreward_rank = 1\n")
                == "run.toml: cluster.reward_rank: unknown key in [cluster]; allowed keys: reward_ranks, placement")
    }

    @Test func unknownTableIsRejected() {
        #expect(message("[clutser]\nreward_ranks = 1\n") == "run.toml: clutser: unknown key at the top level; allowed keys: [cluster]")
    }

    @Test func wrongTypeNamesExpectedAndFound() {
        #expect(message("[cluster]\nreward_ranks = \"two\"\n") == "run.toml: cluster.reward_ranks: expected an integer, found string \"two\"")
        #expect(message("cluster = 3\n").hasPrefix("run.toml: cluster: expected a table [cluster], found integer"))
    }

    @Test func disallowedChoiceListsTheChoices() {
        #expect(message("[cluster]\nplacement = \"random\"\n")
                == "run.toml: cluster.placement: \"random\" is not allowed: use \"tail\" | \"spread\"")
    }

    @Test func negativeCountIsOutOfRange() {
        #expect(message("[cluster]\nreward_ranks = -1\n").hasPrefix("run.toml: cluster.reward_ranks: -1 is out of range: allowed 0 ..."))
    }

    @Test func syntaxErrorGivesTheLine() {
        let m = message("[cluster]\nreward_ranks = = 1\n")
        #expect(m.hasPrefix("run.toml: not valid TOML at line 2"), "\(m)")
    }

    @Test func missingFileNamesTheFile() {
        do {
            _ = try RunConfig.load(path: "/nonexistent/run.toml")
            Issue.record("a missing file loaded")
        } catch {
            #expect("\(error)".hasPrefix("/nonexistent/run.toml: cannot read the file"))
        }
    }

    @Test func fileRoundTrip() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("uso-config-\(UUID().uuidString).toml").path
        try "# comment\n[cluster]\nreward_ranks = 1\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try RunConfig.load(path: path).cluster.rewardRanks == 1)
    }

    @Test func everyKeyIsDocumented() {
        let keys = RunConfig.keys
        #expect(keys.map(\.key) == ["cluster.reward_ranks", "cluster.placement"])
        #expect(keys.allSatisfy { !$0.summary.isEmpty && !$0.allowed.isEmpty })
        #expect(keys.renderedAsText().contains("cluster.placement (string, default \"tail\"; allowed: \"tail\" | \"spread\")"))
    }
}
