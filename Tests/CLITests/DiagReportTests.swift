import Foundation
import Testing
import USOTestSupport

/// `uso diag report` on a stage-uso run with a dedicated reward rank (2 trainers + 1): the
/// summary's sections hold numbers, and the HTML page, rendered in headless Chromium (as a
/// user opens it), has every chart present with drawn marks; a screenshot is kept at
/// /tmp/uso-diag-report.png. A folder without diagnostics is an error naming the file.
@Suite(.serialized)
struct DiagReportTests {
    let uso = MPIRun.executable("uso")

    @Test(.enabled(if: (try? MPIRun.which("chromium")) != nil, "needs Debian's chromium (Scripts/bootstrap.sh installs it)"))
    func reportOfARewardRunRendersEveryChart() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TinyStages.rewardReady(dir)
        let run = "\(dir.path)/run"
        let train = try MPIRun.run(np: 3, uso, ["train", "--config", "Cluster/configs/tiny-uso-asr.toml".repoPath, "--progress", "none",
                                                "--set", "run.out=\(run)", "--set", "data.path=\(dir.path)/data/triplets",
                                                "--set", "run.init_weights=\(dir.path)/base/weights", "--set", "run.steps=8",
                                                "--set", "reward.start_step=0", "--set", "reward.mode=dedicated", "--set", "cluster.reward_ranks=1",
                                                "--set", "reward.csd_weights=\(dir.path)/csd/weights", "--set", "sync.bucket_mib=0.05"], timeout: 240)
        try #require(train.exitCode == 0, "\(train.transcript)")
        let curve = try MPIRun.run(np: 2, uso, ["bench", "allreduce", "--max-size", "1MiB", "--json", "\(run)/diag/allreduce.json"])
        try #require(curve.exitCode == 0, "\(curve.transcript)")
        let page = "\(dir.path)/report.html"
        let report = try MPIRun.runWithoutMPI(uso, ["diag", "report", run, "--html", page])
        try #require(report.exitCode == 0, "\(report.transcript)")
        let text = report.stdout
        for section in ["Step time per rank", "Gradient buckets", "Stragglers:", "Reward ranks", "request to reply: median", "Skipped steps: 0", "Stalls: 0"] {
            #expect(text.contains(section), "'\(section)' missing:\n\(text)")
        }
        #expect(!text.contains("no allreduce curve"), "\(text)")
        // Both trainers' rows, with a step time; the reward rank's busy share and its requests.
        #expect(text.contains("trainer 0, coordinator") && text.contains("trainer 1"), "\(text)")

        // The page as Chromium draws it: every chart there, with marks in it.
        let dom = try MPIRun.runWithoutMPI(try MPIRun.which("chromium"), ["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "file://\(page)"])
        try #require(dom.exitCode == 0, "\(dom.transcript)")
        let check = try Python.run("""
            import sys, re
            from html.parser import HTMLParser
            html = open(sys.argv[1]).read()
            class P(HTMLParser):
                def __init__(self):
                    super().__init__(); self.fig = None; self.marks = {}; self.svgs = {}
                def handle_starttag(self, tag, attrs):
                    a = dict(attrs)
                    if tag == "figure" and a.get("class") == "chart": self.fig = a["id"]; self.marks[self.fig] = 0; self.svgs[self.fig] = 0
                    elif self.fig and tag == "svg": self.svgs[self.fig] += 1
                    elif self.fig and tag in ("rect", "polyline", "circle"): self.marks[self.fig] += 1
                def handle_endtag(self, tag):
                    if tag == "figure": self.fig = None
            p = P(); p.feed(html)
            want = ["chart-loss", "chart-steps", "chart-busbw", "chart-reward", "chart-swimlane"]
            for w in want:
                assert w in p.marks, ("missing chart", w, list(p.marks))
                assert p.svgs[w] == 1 and p.marks[w] > 0, ("empty chart", w, p.marks[w])
            assert p.marks["chart-swimlane"] > 20 and p.marks["chart-reward"] >= 30, p.marks
            print("OK", p.marks)
            """, [try dir.write("dom.html", dom.stdout)])
        #expect(check.exitCode == 0 && check.stdout.contains("OK"), "\(check.transcript)")
        let shot = "/tmp/uso-diag-report.png"
        try? FileManager.default.removeItem(atPath: shot)
        let png = try MPIRun.runWithoutMPI(try MPIRun.which("chromium"), ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                                                          "--window-size=1024,2200", "--screenshot=\(shot)", "file://\(page)"])
        #expect(png.exitCode == 0, "\(png.transcript)")
        let size = (try? FileManager.default.attributesOfItem(atPath: shot)[.size] as? Int) ?? 0
        #expect(size > 20_000, "screenshot \(shot): \(size) bytes")

        // Bad input: no diagnostics.
        let none = try MPIRun.runWithoutMPI(uso, ["diag", "report", "\(dir.path)/data"])
        #expect(none.exitCode != 0 && none.stderr.contains("\(dir.path)/data/diag/clock.json: missing"), "\(none.transcript)")
    }
}

extension DiagReportTests {
    /// A straggler caused on purpose (USO_FAULT_SLOW: each of trainer 1's micro-batches 40 ms
    /// longer): the report names trainer 1 as the last to arrive at every step's gradient
    /// allreduce, late by about the delay, in a micro-batch, and trainer 0's exposed sync as the
    /// larger; a run
    /// still going (a cut-off last line, as a flush in progress leaves) is reported from what
    /// has been flushed.
    @Test func aStragglerCausedOnPurposeIsNamed() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", "\(dir.path)/data", "--resolution", "32", "--triplets", "8",
                                                  "--pairs", "32", "--style-images", "8"])
        try #require(made.exitCode == 0, "\(made.transcript)")
        let run = "\(dir.path)/run"
        let train = try MPIRun.run(np: 2, uso, ["train", "--config", "Cluster/configs/tiny-base.toml".repoPath, "--progress", "none",
                                                "--set", "run.out=\(run)", "--set", "data.path=\(dir.path)/data/pairs",
                                                "--set", "run.init_weights=random", "--set", "run.steps=8"],
                                   environment: ["USO_FAULT_SLOW": "1:40"])
        try #require(train.exitCode == 0, "\(train.transcript)")
        let report = try MPIRun.runWithoutMPI(uso, ["diag", "report", run, "--json", "\(dir.path)/r.json"])
        try #require(report.exitCode == 0, "\(report.transcript)")
        let o = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir.path)/r.json"))) as? [String: Any])
        // Every gradient allreduce (one per step): trainer 1 last, by about the delay, arriving
        // in its micro-batch. (The small allreduces after the sync start together: either may be last.)
        let compared = o["collectives_compared"] as! Int
        let late = (o["stragglers"] as! [[String: Any]]).filter { ($0["late_s"] as! Double) >= 0.03 }
        #expect(compared >= 8 * 3 && late.count >= 8, "\(late.count) late collectives of \(compared)")
        // The end-of-run save's state copy runs on every trainer and can make one late too (a
        // 78 ms copy on trainer 0 did once on a busy machine): such a lateness must be named
        // as in the checkpoint copy; every other late collective is the straggler's.
        for l in late where !(l["span"] as! String).hasPrefix("in checkpoint copy") {
            #expect(l["last_rank"] as? Int == 1 && (l["operation"] as! String).hasPrefix("MPI_Iallreduce(trainers)")
                    && (l["span"] as! String).hasPrefix("in micro-batch 0 ("), "\(l)")
        }
        let straggler = late.filter { ($0["operation"] as! String).hasPrefix("MPI_Iallreduce(trainers)") && $0["last_rank"] as? Int == 1 }
        #expect(straggler.count >= 8, "\(straggler.count) late gradient allreduces named on trainer 1: \(late)")
        let one = try #require((o["last_arrivals"] as! [[String: Any]]).first { $0["rank"] as? Int == 1 })
        #expect((one["times"] as! Int) >= 8, "\(one)")
        let steps = o["steps"] as! [[String: Any]]
        // Trainer 0 waits for trainer 1: its exposed sync is the larger.
        #expect((steps[0]["sync_s"] as! Double) > (steps[1]["sync_s"] as! Double) + 0.02, "\(steps)")

        // A run still going: the last line cut off mid-flush.
        let file = "\(run)/diag/rank_01.jsonl"
        var text = try String(contentsOfFile: file, encoding: .utf8)
        text += "{\"kind\":\"step\",\"stream\":\"comp"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let going = try MPIRun.runWithoutMPI(uso, ["diag", "report", run])
        #expect(going.exitCode == 0 && going.stdout.contains("Stragglers:"), "\(going.transcript)")
        // A damaged line inside the file is an error naming the file and the line.
        try ("garbage\n" + text + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let damaged = try MPIRun.runWithoutMPI(uso, ["diag", "report", run])
        #expect(damaged.exitCode != 0 && damaged.stderr.contains("\(file): line 1 is not a flight-recorder span"), "\(damaged.transcript)")
    }
}
