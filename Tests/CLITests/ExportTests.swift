import Foundation
import Testing
import USOTestSupport

/// `uso ckpt export`: a stage-uso checkpoint's LoRA and projector as dit_lora.safetensors and
/// projector.safetensors, read by the safetensors package with the run's key set and
/// shapes; F32 equal to the trained values, F16 and BF16 their round-to-nearest-even
/// conversions bit for bit (numpy as the outside reference); ModelSpec metadata and the
/// training facts; an existing file never replaced without --force.
@Suite(.serialized)
struct ExportTests {
    let uso = MPIRun.executable("uso")

    @Test func exportsTheLoRAAndTheProjectorAsTheEcosystemReadsThem() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", "\(dir.path)/data", "--resolution", "32", "--triplets", "16",
                                                  "--pairs", "8", "--style-images", "8", "--shard-size", "16"])
        try #require(made.exitCode == 0, "\(made.transcript)")
        let train = try MPIRun.runWithoutMPI(uso, ["train", "--config", "Cluster/configs/tiny-uso.toml".repoPath, "--progress", "none",
                                                   "--set", "run.out=\(dir.path)/run", "--set", "data.path=\(dir.path)/data/triplets",
                                                   "--set", "run.init_weights=random", "--set", "run.steps=2", "--set", "data.global_batch=2"])
        try #require(train.exitCode == 0, "\(train.transcript)")
        let ckpt = "\(dir.path)/run/checkpoints/step_00000002"
        for dtype in ["f32", "bf16", "f16"] {
            let job = try MPIRun.runWithoutMPI(uso, ["ckpt", "export", ckpt, "--out", "\(dir.path)/\(dtype)", "--dtype", dtype])
            #expect(job.exitCode == 0 && job.stdout.contains("dit_lora.safetensors") && job.stdout.contains("projector.safetensors"),
                    "\(job.transcript)")
        }
        let check = try Python.run("""
            import json, struct, sys
            import numpy as np
            from safetensors.numpy import load_file
            d, weights = sys.argv[1], sys.argv[2]
            def raw(path):
                with open(path, "rb") as f:
                    n = struct.unpack("<Q", f.read(8))[0]
                    header = json.loads(f.read(n))
                    data = f.read()
                meta = header.pop("__metadata__")
                return header, data, meta
            for name in ["dit_lora.safetensors", "projector.safetensors"]:
                trained = load_file(weights + "/" + name)
                f32 = load_file(d + "/f32/" + name)
                assert set(f32) == set(trained), name
                for k in trained:
                    assert f32[k].dtype == np.float32 and f32[k].shape == trained[k].shape and np.array_equal(f32[k], trained[k]), k
                f16 = load_file(d + "/f16/" + name)
                for k in trained:
                    assert f16[k].dtype == np.float16 and np.array_equal(f16[k].view(np.uint16), trained[k].astype(np.float16).view(np.uint16)), k
                header, data, meta = raw(d + "/bf16/" + name)
                assert set(header) == set(trained), name
                for k, h in header.items():
                    assert h["dtype"] == "BF16" and h["shape"] == list(trained[k].shape), k
                    a, b = h["data_offsets"]
                    got = np.frombuffer(data[a:b], dtype="<u2")
                    u = trained[k].astype("<f4").view("<u4").reshape(-1).astype(np.uint64)
                    want = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
                    assert np.array_equal(got, want), k
                kind = "lora" if name.startswith("dit") else "projector"
                assert meta["modelspec.architecture"] == "uso-tiny/" + kind and meta["modelspec.sai_model_spec"] == "1.0.0", meta
                assert meta["uso.stage"] == "uso" and meta["uso.step"] == "2" and meta["uso.dtype"] == "BF16", meta
            print("OK")
            """, [dir.path, "\(dir.path)/run/weights"])
        #expect(check.exitCode == 0 && check.stdout == "OK\n", "\(check.transcript)")
        let again = try MPIRun.runWithoutMPI(uso, ["ckpt", "export", ckpt, "--out", "\(dir.path)/f32"])
        #expect(again.exitCode != 0 && again.stderr.contains("exists; give --force"), "\(again.transcript)")
        let forced = try MPIRun.runWithoutMPI(uso, ["ckpt", "export", ckpt, "--out", "\(dir.path)/f32", "--force"])
        #expect(forced.exitCode == 0, "\(forced.transcript)")
        let partial = try MPIRun.runWithoutMPI(uso, ["ckpt", "export", "\(dir.path)/run/checkpoints", "--out", "\(dir.path)/x"])
        #expect(partial.exitCode != 0 && partial.stderr.contains("no DONE marker"), "\(partial.transcript)")
    }
}
