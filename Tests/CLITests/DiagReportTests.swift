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
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", "\(dir.path)/data", "--resolution", "32", "--triplets", "24",
                                                  "--pairs", "16", "--style-images", "16", "--shard-size", "16"])
        try #require(made.exitCode == 0, "\(made.transcript)")
        let csd = try MPIRun.run(np: 2, uso, ["train", "--config", "Cluster/configs/tiny-csd.toml".repoPath, "--progress", "none",
                                              "--set", "run.out=\(dir.path)/csd", "--set", "data.path=\(dir.path)/data/styles", "--set", "run.steps=3"])
        try #require(csd.exitCode == 0, "\(csd.transcript)")
        let base = try MPIRun.run(np: 2, uso, ["train", "--config", "Cluster/configs/tiny-base.toml".repoPath, "--progress", "none",
                                               "--set", "run.out=\(dir.path)/base", "--set", "data.path=\(dir.path)/data/pairs",
                                               "--set", "run.init_weights=random", "--set", "run.steps=3"])
        try #require(base.exitCode == 0, "\(base.transcript)")
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
