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
        #expect(message("[clutser]\nreward_ranks = 1\n")
                == "run.toml: clutser: unknown key at the top level; allowed keys: [cluster], [run], [data], [optim], [flow], [sync], [csd], [reward], [diag]")
    }

    @Test func wrongTypeNamesExpectedAndFound() {
        #expect(message("[cluster]\nreward_ranks = \"two\"\n") == "run.toml: cluster.reward_ranks: expected an integer, found string \"two\"")
        #expect(message("cluster = 3\n").hasPrefix("run.toml: cluster: expected a table [cluster], found integer"))
    }

    @Test func disallowedChoiceListsTheChoices() {
        #expect(message("[cluster]\nplacement = \"random\"\n")
                == "run.toml: cluster.placement: \"random\" is not allowed: use \"tail\" | \"spread\" | \"own_hosts\"")
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

    @Test func everyDocumentedKeyParsesWithItsDocumentedDefault() throws {
        // A file holding every documented key at its documented default parses, and gives the defaults:
        // the documentation and the parser cannot drift apart.
        var tables: [String: [String]] = [:]
        for spec in RunConfig.keys {
            let parts = spec.key.split(separator: ".")
            tables[String(parts[0]), default: []].append("\(parts[1]) = \(spec.defaultValue)")
        }
        let text = RunConfig.tables.map { "[\($0)]\n" + (tables[$0] ?? []).joined(separator: "\n") }.joined(separator: "\n\n")
        var parsed = try RunConfig.parse(text)
        #expect(parsed.run.out == "runs/<stage>" && parsed.data.path == "data/<set>")
        parsed.run.out = ""
        parsed.data.path = ""
        #expect(parsed == RunConfig())
        #expect(RunConfig.keys.allSatisfy { !$0.summary.isEmpty && !$0.allowed.isEmpty })
        #expect(Set(RunConfig.keys.map { String($0.key.split(separator: ".")[0]) }) == Set(RunConfig.tables))
        #expect(RunConfig.keys.renderedAsText().contains("cluster.placement (string, default \"tail\"; allowed: \"tail\" | \"spread\" | \"own_hosts\")"))
    }

    @Test func rewardServiceAddressesAreCheckedByKey() throws {
        #expect(message("[reward]\nmode = \"service\"\n")
                == "run.toml: reward.service: reward.mode = \"service\" needs the services' addresses (host:port, comma-separated)")
        #expect(message("[reward]\nmode = \"service\"\nservice = \"10.0.0.9:7311, rewardhost\"\n")
                == "run.toml: reward.service: \"rewardhost\" is not host:port (for example 10.0.0.9:7311)")
        let ok = try RunConfig.parse("[reward]\nmode = \"service\"\nservice = \"10.0.0.9:7311, b:7312\"\nrequired = true\n")
        #expect(ok.reward.service == ["10.0.0.9:7311", "b:7312"] && ok.reward.required && ok.reward.mode == .service)
    }

    @Test func trainingSectionsRejectBadValuesByKey() {
        #expect(message("[run]\nstage = \"pretrain\"\n") == "run.toml: run.stage: \"pretrain\" is not allowed: use \"base\" | \"csd\" | \"uso\" | \"autoencoder\"")
        #expect(message("[data]\ncondition_dropout = 0.7\n") == "run.toml: data.condition_dropout: 0.7 is out of range: allowed 0.0 ... 0.5")
        #expect(message("[optim]\nlr = \"fast\"\n") == "run.toml: optim.lr: expected a number, found string \"fast\"")
        #expect(message("[sync]\nbucket = 2\n") == "run.toml: sync.bucket: unknown key in [sync]; allowed keys: strategy, bucket_mib")
        let ok = try? RunConfig.parse("[optim]\nlr = 3\nschedule = \"cosine\"\n[data]\nglobal_batch = 16\n")
        #expect(ok?.optim.lr == 3 && ok?.optim.schedule == .cosine && ok?.data.globalBatch == 16)
    }
}
