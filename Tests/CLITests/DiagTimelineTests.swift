import Foundation
import Testing
import USOTestSupport

/// The flight recorder and `uso diag timeline`: a run of 2 trainers and a reward rank leaves
/// every rank's spans in RUN/diag/, and the merged Chrome trace is valid Trace Event Format
/// (every event's fields and types), names every rank with its role, holds each trainer's
/// steps with their phases, every collective of the step with matching sequence numbers on
/// both trainers, the background checkpoint writes, and its complete spans nest and are
/// ordered on every (rank, stream).
@Suite(.serialized)
struct DiagTimelineTests {
    let uso = MPIRun.executable("uso")

    @Test func everyRanksSpansMergeIntoOneValidTrace() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", "\(dir.path)/data", "--resolution", "32", "--triplets", "8",
                                                  "--pairs", "32", "--style-images", "8"])
        try #require(made.exitCode == 0, "\(made.transcript)")
        let train = try MPIRun.run(np: 3, uso, ["train", "--config", "Cluster/configs/tiny-base.toml".repoPath, "--progress", "none",
                                                "--set", "run.out=\(dir.path)/run", "--set", "data.path=\(dir.path)/data/pairs",
                                                "--set", "run.init_weights=random", "--set", "run.steps=6", "--set", "run.save_every=2",
                                                "--set", "cluster.reward_ranks=1", "--set", "diag.flush_every=2", "--set", "sync.bucket_mib=0.05"])
        try #require(train.exitCode == 0, "\(train.transcript)")
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(dir.path)/run/diag").sorted()
        #expect(files == ["clock.json", "rank_00.jsonl", "rank_01.jsonl", "rank_02.jsonl"], "\(files)")
        let job = try MPIRun.runWithoutMPI(uso, ["diag", "timeline", "\(dir.path)/run", "--out", "\(dir.path)/trace.json"])
        try #require(job.exitCode == 0 && job.stdout.contains("clocks aligned to rank 0 within"), "\(job.transcript)")
        let check = try Python.run("""
            import json, sys
            t = json.load(open(sys.argv[1]))
            ev = t["traceEvents"]
            assert isinstance(ev, list) and ev, "no events"
            names, spans, asyncs = {}, {}, {}
            for e in ev:
                assert e["ph"] in ("X", "M", "b", "e"), e
                assert isinstance(e["pid"], int) and isinstance(e["tid"], int) and isinstance(e["name"], str), e
                if e["ph"] == "M":
                    if e["name"] == "process_name": names[e["pid"]] = e["args"]["name"]
                    continue
                assert isinstance(e["ts"], (int, float)) and e["ts"] >= 0, e
                if e["ph"] == "X":
                    assert isinstance(e["dur"], (int, float)) and e["dur"] >= 0, e
                    spans.setdefault((e["pid"], e["tid"]), []).append(e)
                else:
                    asyncs.setdefault((e["pid"], e["id"]), []).append(e)
            assert "trainer 0, coordinator" in names[0] and "trainer 1" in names[1] and "reward rank 0" in names[2], names
            # Complete spans nest (or are disjoint) and are ordered, per rank and stream.
            for key, xs in spans.items():
                xs.sort(key=lambda e: (e["ts"], -e["dur"]))
                stack = []
                for e in xs:
                    while stack and e["ts"] >= stack[-1]["ts"] + stack[-1]["dur"] - 1e-3: stack.pop()
                    if stack:
                        outer = stack[-1]
                        assert e["ts"] + e["dur"] <= outer["ts"] + outer["dur"] + 1e-3, ("overlap without nesting", key, outer, e)
                    stack.append(e)
            for key, pair in asyncs.items():
                assert sorted(p["ph"] for p in pair) == ["b", "e"], (key, pair)
                b = [p for p in pair if p["ph"] == "b"][0]; e = [p for p in pair if p["ph"] == "e"][0]
                assert e["ts"] >= b["ts"], key
            for r in (0, 1):
                steps = [e for e in spans[(r, 0)] if e["name"] == "step"]
                assert len(steps) == 6 and [s["args"]["step"] for s in steps] == list(range(6)), steps
                kinds = {e["name"] for e in spans[(r, 0)]}
                assert {"data wait", "micro-batch", "forward", "backward", "bucket ready", "sync wait", "optimizer", "checkpoint copy"} <= kinds, kinds
                for s in steps:
                    inside = [e for e in spans[(r, 0)] if e["name"] == "micro-batch" and s["ts"] <= e["ts"] <= s["ts"] + s["dur"]]
                    assert inside, ("a step without its micro-batches", s)
            # The trainers' gradient buckets: the same sequence numbers and bytes on both.
            def buckets(r):
                return sorted((p["args"]["seq"], p["args"]["bytes"]) for (pid, _), pair in asyncs.items() if pid == r
                              for p in pair if p["ph"] == "b" and p["name"].startswith("MPI_Iallreduce(trainers)"))
            b0, b1 = buckets(0), buckets(1)
            assert b0 and b0 == b1 and len(b0) >= 6 * 2, (len(b0), len(b1))
            io = [e for e in spans.get((0, 3), []) if e["name"] == "checkpoint write"]
            assert len(io) == 3, io
            print("OK", len(ev), t["otherData"]["clock_residual_ns"])
            """, ["\(dir.path)/trace.json"])
        #expect(check.exitCode == 0 && check.stdout.hasPrefix("OK"), "\(check.transcript)")
        // Bad input: a run without diagnostics, a damaged file.
        let none = try MPIRun.runWithoutMPI(uso, ["diag", "timeline", "\(dir.path)/data", "--out", "\(dir.path)/x.json"])
        #expect(none.exitCode != 0 && none.stderr.contains("\(dir.path)/data/diag/clock.json") && none.stderr.contains("holds no diagnostics"),
                "\(none.transcript)")
        let rankFile = "\(dir.path)/run/diag/rank_01.jsonl"
        var text = try String(contentsOfFile: rankFile, encoding: .utf8)
        text = "{\"kind\": broken\n" + text
        try text.write(toFile: rankFile, atomically: true, encoding: .utf8)
        let damaged = try MPIRun.runWithoutMPI(uso, ["diag", "timeline", "\(dir.path)/run", "--out", "\(dir.path)/y.json"])
        #expect(damaged.exitCode != 0 && damaged.stderr.contains(rankFile) && damaged.stderr.contains("line 1"), "\(damaged.transcript)")
    }
}
