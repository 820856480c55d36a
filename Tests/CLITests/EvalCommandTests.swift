import Foundation
import Testing
import USOTestSupport

/// `uso eval csd` and `uso eval autoencoder` as a user runs them after their stages: the eval
/// rows only (counted independently by h5py), the held-out styles found from the data (styles
/// no train row has), scores in range with intervals around them; bad input named.
@Suite(.serialized)
struct EvalCommandTests {
    let uso = MPIRun.executable("uso")

    @Test func scoresTheEvalRowsAndNamesBadInput() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", "\(dir.path)/data", "--resolution", "32", "--triplets", "8",
                                                  "--pairs", "8", "--style-images", "240", "--styles", "12", "--held-out-styles", "3"])
        try #require(made.exitCode == 0, "\(made.transcript)")
        let csd = try MPIRun.run(np: 2, uso, ["train", "--config", "Cluster/configs/tiny-csd.toml".repoPath, "--progress", "none",
                                              "--set", "run.out=\(dir.path)/csd", "--set", "data.path=\(dir.path)/data/styles", "--set", "run.steps=20"])
        try #require(csd.exitCode == 0, "\(csd.transcript)")
        let eval = try MPIRun.runWithoutMPI(uso, ["eval", "csd", "--csd", "\(dir.path)/csd/weights", "--data", "\(dir.path)/data",
                                                  "--preset", "tiny", "--json"])
        try #require(eval.exitCode == 0, "\(eval.transcript)")
        let r = try #require(try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any])
        // What h5py finds in the shards: eval rows, their styles, and the styles without a train row.
        let facts = try Python.run("""
            import glob, sys
            import h5py, numpy as np
            train, ev = set(), []
            for f in sorted(glob.glob(sys.argv[1] + "/*.h5")):
                with h5py.File(f, "r") as h:
                    for split, style in zip(h["split"][:], h["style_id"][:]):
                        (ev.append(int(style)) if split == 1 else train.add(int(style)))
            held = sorted(set(ev) - train)
            print(len(ev), len(set(ev)), ",".join(map(str, held)), sum(1 for s in ev if s in held))
            """, ["\(dir.path)/data/styles"])
        try #require(facts.exitCode == 0, "\(facts.transcript)")
        let f = facts.stdout.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(r["galleryImages"] as? Int == Int(f[0]) && r["galleryStyles"] as? Int == Int(f[1]), "\(r) vs h5py \(f)")
        #expect((r["heldOutStyleIDs"] as? [Int])?.map(String.init).joined(separator: ",") == f[2], "\(r) vs h5py \(f)")
        #expect(f[2] == "9,10,11", "the world's last 3 styles are held out: \(f)")
        let held = try #require(r["heldOutStyles"] as? [String: Any])
        #expect(held["images"] as? Int == Int(f[3]), "\(held)")
        for score in ["heldOutStyles", "trainedStyles"] {
            let s = try #require(r[score] as? [String: Any], "\(score) missing: \(r)")
            for metric in ["top1", "meanAveragePrecision"] {
                let m = try #require(s[metric] as? [String: Any])
                let (mean, low, high) = (m["mean"] as! Double, m["low"] as! Double, m["high"] as! Double)
                #expect(0 <= low && low <= mean && mean <= high && high <= 1, "\(score) \(metric): \(m)")
            }
            #expect((s["chance"] as! Double) > 0 && (s["chance"] as! Double) < 1)
        }
        let text = try MPIRun.runWithoutMPI(uso, ["eval", "csd", "--csd", "\(dir.path)/csd/weights", "--data", "\(dir.path)/data/styles", "--preset", "tiny"])
        #expect(text.exitCode == 0 && text.stdout.contains("held-out styles 9,10,11") && text.stdout.contains("top-1"), "\(text.transcript)")

        // Bad input: a set without style labels, another preset's resolution, no weights.
        let pairs = try MPIRun.runWithoutMPI(uso, ["eval", "csd", "--csd", "\(dir.path)/csd/weights", "--data", "\(dir.path)/data/pairs", "--preset", "tiny"])
        #expect(pairs.exitCode != 0 && pairs.stderr.contains("\(dir.path)/data/pairs") && pairs.stderr.contains("no styles set"), "\(pairs.transcript)")
        let small = try MPIRun.runWithoutMPI(uso, ["eval", "csd", "--csd", "\(dir.path)/csd/weights", "--data", "\(dir.path)/data/styles", "--preset", "small"])
        #expect(small.exitCode != 0 && small.stderr.contains("csd.safetensors"), "another preset's weights are refused, naming the file: \(small.transcript)")
        let none = try MPIRun.runWithoutMPI(uso, ["eval", "csd", "--csd", "\(dir.path)/nothing", "--data", "\(dir.path)/data", "--preset", "tiny"])
        #expect(none.exitCode != 0 && none.stderr.contains("\(dir.path)/nothing"), "\(none.transcript)")
    }

    @Test func autoencoderScoresTheEvalRowsAndItsGrids() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", "\(dir.path)/data", "--resolution", "32", "--triplets", "64",
                                                  "--pairs", "8", "--style-images", "8"])
        try #require(made.exitCode == 0, "\(made.transcript)")
        let ae = try MPIRun.run(np: 2, uso, ["train", "--config", "Cluster/configs/tiny-autoencoder.toml".repoPath, "--progress", "none",
                                             "--set", "run.out=\(dir.path)/ae", "--set", "data.path=\(dir.path)/data/triplets", "--set", "run.steps=20"])
        try #require(ae.exitCode == 0, "\(ae.transcript)")
        let eval = try MPIRun.runWithoutMPI(uso, ["eval", "autoencoder", "--weights", "\(dir.path)/ae/weights", "--data", "\(dir.path)/data",
                                                  "--preset", "tiny", "--json"])
        try #require(eval.exitCode == 0, "\(eval.transcript)")
        let r = try #require(try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any])
        let count = try Python.run("""
            import glob, sys
            import h5py
            print(sum(int((h5py.File(f, "r")["split"][:] == 1).sum()) for f in glob.glob(sys.argv[1] + "/*.h5")))
            """, ["\(dir.path)/data/triplets"])
        #expect(count.exitCode == 0 && r["images"] as? Int == Int(count.stdout.trimmingCharacters(in: .whitespacesAndNewlines)),
                "the triplet set's eval rows: \(r["images"] ?? "none") vs h5py \(count.transcript)")
        #expect(r["patchPixels"] as? Int == 4 && r["tokenPixels"] as? Int == 8, "tiny: factor 4, tokens of 2 x 2 latent pixels: \(r)")
        let psnr = try #require(r["psnr"] as? [String: Any])
        #expect((psnr["mean"] as! Double) > 5 && (psnr["mean"] as! Double) < 60 && (psnr["low"] as! Double) <= (psnr["mean"] as! Double), "\(psnr)")
        for key in ["patchRatioOriginal", "patchRatioReconstruction", "tokenRatioOriginal", "tokenRatioReconstruction"] {
            let m = try #require(r[key] as? [String: Any], "\(key) missing")
            #expect((m["mean"] as! Double) > 0 && (m["low"] as! Double) <= (m["mean"] as! Double) && (m["mean"] as! Double) <= (m["high"] as! Double), "\(key): \(m)")
        }
        // --images: generated files are scored on the same grids; wrong sizes and empty folders are named.
        let gen = try MPIRun.runWithoutMPI(uso, ["eval", "autoencoder", "--weights", "\(dir.path)/ae/weights", "--data", "\(dir.path)/data/triplets",
                                                 "--preset", "tiny", "--images", "\(dir.path)/data"])
        #expect(gen.exitCode != 0 && gen.stderr.contains("\(dir.path)/data") && gen.stderr.contains("no numbered PNG"), "\(gen.transcript)")
        try FileManager.default.createDirectory(atPath: "\(dir.path)/pngs", withIntermediateDirectories: true)
        let sheet = try MPIRun.runWithoutMPI(uso, ["data", "sheet", "\(dir.path)/data/triplets", "--out", "\(dir.path)/pngs/000.png", "--count", "2"])
        try #require(sheet.exitCode == 0, "\(sheet.transcript)")
        let wrong = try MPIRun.runWithoutMPI(uso, ["eval", "autoencoder", "--weights", "\(dir.path)/ae/weights", "--data", "\(dir.path)/data/triplets",
                                                   "--preset", "tiny", "--images", "\(dir.path)/pngs"])
        #expect(wrong.exitCode != 0 && wrong.stderr.contains("\(dir.path)/pngs/000.png") && wrong.stderr.contains("32x32"), "\(wrong.transcript)")
        let small = try MPIRun.runWithoutMPI(uso, ["eval", "autoencoder", "--weights", "\(dir.path)/ae/weights", "--data", "\(dir.path)/data", "--preset", "small"])
        #expect(small.exitCode != 0 && small.stderr.contains("\(dir.path)/ae/weights/") && small.stderr.contains("the model expects"),
                "another preset's weights, the file and the shapes named: \(small.transcript)")
    }
}
