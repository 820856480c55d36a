import Foundation
import Testing
import USOTestSupport

/// `uso eval csd`, `uso eval autoencoder` and `uso eval denoise` as a user runs them after their stages: the eval
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

    @Test func denoiseScoresEachNoiseLevelAgainstTheCeiling() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", "\(dir.path)/data", "--resolution", "32", "--triplets", "64",
                                                  "--pairs", "64", "--style-images", "8"])
        try #require(made.exitCode == 0, "\(made.transcript)")
        let ae = try MPIRun.run(np: 2, uso, ["train", "--config", "Cluster/configs/tiny-autoencoder.toml".repoPath, "--progress", "none",
                                             "--set", "run.out=\(dir.path)/ae", "--set", "data.path=\(dir.path)/data/triplets", "--set", "run.steps=20"])
        try #require(ae.exitCode == 0, "\(ae.transcript)")
        let base = try MPIRun.run(np: 2, uso, ["train", "--config", "Cluster/configs/tiny-base.toml".repoPath, "--progress", "none",
                                               "--set", "run.out=\(dir.path)/base", "--set", "data.path=\(dir.path)/data/pairs",
                                               "--set", "run.init_weights=\(dir.path)/ae/weights", "--set", "run.steps=200"])
        try #require(base.exitCode == 0, "\(base.transcript)")
        let weights = "\(dir.path)/base/weights"
        let eval = try MPIRun.runWithoutMPI(uso, ["eval", "denoise", "--weights", weights, "--data", "\(dir.path)/data", "--preset", "tiny",
                                                  "--count", "1000", "--t", "0.002,0.5,1", "--json"])
        try #require(eval.exitCode == 0, "\(eval.transcript)")
        let r = try #require(try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any])
        let count = try Python.run("""
            import glob, sys
            import h5py
            print(sum(int((h5py.File(f, "r")["split"][:] == 1).sum()) for f in glob.glob(sys.argv[1] + "/*.h5")))
            """, ["\(dir.path)/data/triplets"])
        #expect(count.exitCode == 0 && r["rows"] as? Int == Int(count.stdout.trimmingCharacters(in: .whitespacesAndNewlines)),
                "every eval row once --count exceeds them: \(r["rows"] ?? "none") vs h5py \(count.transcript)")
        // The ceiling is the autoencoder's own reconstruction of the same rows, as uso eval autoencoder measures it.
        let aeEval = try MPIRun.runWithoutMPI(uso, ["eval", "autoencoder", "--weights", weights, "--data", "\(dir.path)/data/triplets",
                                                    "--preset", "tiny", "--json"])
        let a = try #require(try JSONSerialization.jsonObject(with: Data(aeEval.stdout.utf8)) as? [String: Any], "\(aeEval.transcript)")
        let ceiling = try #require((r["reconstructionPSNR"] as? [String: Any])?["mean"] as? Double)
        let aePSNR = try #require((a["psnr"] as? [String: Any])?["mean"] as? Double)
        #expect(abs(ceiling - aePSNR) < 1e-6, "ceiling \(ceiling) dB vs uso eval autoencoder \(aePSNR) dB")
        let levels = try #require(r["levels"] as? [[String: Any]])
        try #require(levels.count == 3, "\(levels)")
        let psnr = levels.map { ($0["psnr"] as! [String: Any])["mean"] as! Double }
        let loss = levels.map { ($0["flowLoss"] as! [String: Any])["mean"] as! Double }
        // At t = 0.002 x_t is x0 but for 0.2% noise, so x0_hat decodes to nearly the reconstruction;
        // at t = 1 it is the model's guess from pure noise, far below it.
        #expect(abs(psnr[0] - ceiling) < 0.5, "t = 0.002: \(psnr[0]) dB vs ceiling \(ceiling) dB")
        #expect(psnr[2] < ceiling - 3 && psnr[1] > psnr[2], "PSNR by t \(psnr), ceiling \(ceiling)")
        #expect(loss.allSatisfy { $0 > 0 && $0 < 10 }, "flow losses \(loss)")
        // At t = 0.5 even this briefly trained model denoises: x0_hat beats x_t decoded as it is
        // (x0_hat = x_t - t v_hat; with + t v_hat it falls below).
        let noisy = levels.map { ($0["noisyPSNR"] as! [String: Any])["mean"] as! Double }
        #expect(psnr[1] > noisy[1] + 0.3, "x0_hat \(psnr) vs x_t decoded \(noisy)")
        let text = try MPIRun.runWithoutMPI(uso, ["eval", "denoise", "--weights", weights, "--data", "\(dir.path)/data", "--preset", "tiny",
                                                  "--count", "4", "--split", "train", "--mode", "subject+style"])
        #expect(text.exitCode == 0 && text.stdout.contains("4 train (the fit, not held out) rows") && text.stdout.contains("ceiling"),
                "\(text.transcript)")

        // Bad input: a noise level out of range, a set with no eval rows, another preset's weights.
        let t = try MPIRun.runWithoutMPI(uso, ["eval", "denoise", "--weights", weights, "--data", "\(dir.path)/data", "--preset", "tiny", "--t", "0.5,1.5"])
        #expect(t.exitCode != 0 && t.stderr.contains("1.5"), "\(t.transcript)")
        let noEval = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", "\(dir.path)/trainonly", "--resolution", "32", "--triplets", "8",
                                                    "--pairs", "8", "--style-images", "8", "--eval-fraction", "0"])
        try #require(noEval.exitCode == 0, "\(noEval.transcript)")
        let none = try MPIRun.runWithoutMPI(uso, ["eval", "denoise", "--weights", weights, "--data", "\(dir.path)/trainonly", "--preset", "tiny"])
        #expect(none.exitCode != 0 && none.stderr.contains("\(dir.path)/trainonly") && none.stderr.contains("no eval"), "\(none.transcript)")
        let small = try MPIRun.runWithoutMPI(uso, ["eval", "denoise", "--weights", weights, "--data", "\(dir.path)/data", "--preset", "small"])
        #expect(small.exitCode != 0 && small.stderr.contains(weights) && small.stderr.contains("the model expects"), "\(small.transcript)")
    }
}
