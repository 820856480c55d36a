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

    /// `uso ckpt merge` of a ZeRO-1 checkpoint (2 trainers' shards) gives one file of whole
    /// tensors and moments, equal to the shards reassembled by numpy; `--average 3` is the mean
    /// of the last 3 checkpoints' trained tensors (numpy's float64 mean, cast, bit for bit);
    /// `--fuse` writes the base DiT with W[offset:offset+out] += up @ down for every LoRA
    /// (numpy from the base weights and the exported LoRA); outputs are never replaced without
    /// --force and leave no temporary file.
    @Test func mergeAverageAndFuse() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", "\(dir.path)/data", "--resolution", "32", "--triplets", "16",
                                                  "--pairs", "16", "--style-images", "8", "--shard-size", "16"])
        try #require(made.exitCode == 0, "\(made.transcript)")
        let base = try MPIRun.runWithoutMPI(uso, ["train", "--config", "Cluster/configs/tiny-base.toml".repoPath, "--progress", "none",
                                                  "--set", "run.out=\(dir.path)/base", "--set", "data.path=\(dir.path)/data/pairs",
                                                  "--set", "run.init_weights=random", "--set", "run.steps=3", "--set", "data.global_batch=2"])
        try #require(base.exitCode == 0, "\(base.transcript)")
        let train = try MPIRun.run(np: 2, uso, ["train", "--config", "Cluster/configs/tiny-uso.toml".repoPath, "--progress", "none",
                                                "--set", "run.out=\(dir.path)/run", "--set", "data.path=\(dir.path)/data/triplets",
                                                "--set", "run.init_weights=\(dir.path)/base/weights", "--set", "run.steps=6", "--set", "data.global_batch=2",
                                                "--set", "run.save_every=2", "--set", "run.keep_last=3", "--set", "optim.shard_state=true",
                                                "--set", "optim.lr=1e-2"])
        try #require(train.exitCode == 0, "\(train.transcript)")
        let ckpts = "\(dir.path)/run/checkpoints"
        let merged = try MPIRun.runWithoutMPI(uso, ["ckpt", "merge", "\(ckpts)/step_00000006", "--out", "\(dir.path)/merged.safetensors"])
        #expect(merged.exitCode == 0 && merged.stdout.contains("wrote \(dir.path)/merged.safetensors"), "\(merged.transcript)")
        let mean = try MPIRun.runWithoutMPI(uso, ["ckpt", "export", "\(ckpts)/step_00000006", "--out", "\(dir.path)/mean", "--average", "3"])
        #expect(mean.exitCode == 0 && mean.stdout.contains("the mean of steps 2, 4, 6"), "\(mean.transcript)")
        let fused = try MPIRun.runWithoutMPI(uso, ["ckpt", "export", "\(ckpts)/step_00000006", "--out", "\(dir.path)/fused", "--fuse"])
        #expect(fused.exitCode == 0 && fused.stdout.contains("dit_fused.safetensors"), "\(fused.transcript)")
        let check = try Python.run("""
            import json, sys
            import numpy as np
            from safetensors import safe_open
            from safetensors.numpy import load_file
            d, ck = sys.argv[1], sys.argv[2]
            def shards(folder):
                meta = json.load(open(folder + "/metadata.json"))
                out, files = {}, {}
                for t in meta["tensors"]:
                    parts = [files.setdefault(s.get("file", t["file"]), load_file(folder + "/" + s.get("file", t["file"])))[t["name"]].reshape(-1)
                             for s in sorted(t["shards"], key=lambda s: s["lower"])]
                    out[t["name"]] = np.concatenate(parts).reshape(t["shape"])
                return out
            # merge: every tensor whole, equal to the reassembled shards; the state in the metadata.
            whole = shards(ck + "/step_00000006")
            m = load_file(d + "/merged.safetensors")
            assert set(m) == set(whole) and any(k.startswith("m.") for k in m) and any(k.startswith("v.") for k in m), sorted(m)[:5]
            for k in whole: assert m[k].shape == whole[k].shape and np.array_equal(m[k], whole[k]), k
            with safe_open(d + "/merged.safetensors", "np") as f:
                state = json.loads(f.metadata()["uso.checkpoint_state"])
            assert state["step"] == 6 and state["optimizer_shards"] == 2, state
            # average: the float64 mean of steps 2, 4, 6, cast to float32.
            steps = [load_file(ck + "/step_%08d/trainable.safetensors" % s) for s in (2, 4, 6)]
            for name in ["dit_lora.safetensors", "projector.safetensors"]:
                got = load_file(d + "/mean/" + name)
                for k, v in got.items():
                    want = ((steps[0][k].astype(np.float64) + steps[1][k]) + steps[2][k]) / 3
                    assert np.array_equal(v, want.astype(np.float32)), k
                    assert not np.array_equal(v, steps[2][k]), k + " moved over the run"
            # fuse: base + up @ down at each adapter's rows.
            base = load_file(sys.argv[3] + "/base.safetensors")
            lora = load_file(d + "/fused/dit_lora.safetensors")
            got = load_file(d + "/fused/dit_fused.safetensors")
            assert set(got) == set(base), sorted(set(got) ^ set(base))[:5]
            hosts = {}
            for k in lora:
                if not k.endswith(".down.weight"): continue
                stem = k[: -len(".down.weight")]
                block, _, which = stem.partition(".processor.")
                if block.startswith("double_blocks"):
                    stream = "img" if which.endswith("1") else "txt"
                    host, offset = block + "." + stream + ("_attn.qkv.weight" if which.startswith("qkv") else "_attn.proj.weight"), 0
                else:
                    host, offset = block + (".linear1.weight" if which.startswith("qkv") else ".linear2.weight"), 0
                delta = lora[stem + ".up.weight"].astype(np.float64) @ lora[k].astype(np.float64)
                hosts.setdefault(host, np.zeros(base[host].shape))[offset:offset + delta.shape[0]] += delta
            assert len(hosts) > 4, hosts.keys()
            changed = 0
            for k in base:
                want = base[k].astype(np.float64) + hosts.get(k, 0)
                err = np.abs(got[k] - want).max()
                assert err <= 1e-5 + 1e-5 * np.abs(want).max(), (k, err)
                changed += int(k in hosts and np.abs(hosts[k]).max() > 1e-6)
            assert changed == len(hosts), (changed, len(hosts))
            print("OK", len(m), len(hosts))
            """, ["\(dir.path)", ckpts, "\(dir.path)/base/weights"])
        #expect(check.exitCode == 0 && check.stdout.hasPrefix("OK"), "\(check.transcript)")
        // Refusals: an existing output, too few checkpoints to average, a checkpoint that is not one.
        let again = try MPIRun.runWithoutMPI(uso, ["ckpt", "merge", "\(ckpts)/step_00000006", "--out", "\(dir.path)/merged.safetensors"])
        #expect(again.exitCode != 0 && again.stderr.contains("exists; give --force"), "\(again.transcript)")
        let four = try MPIRun.runWithoutMPI(uso, ["ckpt", "export", "\(ckpts)/step_00000006", "--out", "\(dir.path)/m4", "--average", "4"])
        #expect(four.exitCode != 0 && four.stderr.contains("only 3 complete checkpoint(s) up to step 6"), "\(four.transcript)")
        #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/m4/dit_lora.safetensors"))
        let notOne = try MPIRun.runWithoutMPI(uso, ["ckpt", "merge", "\(dir.path)/data", "--out", "\(dir.path)/x.safetensors"])
        #expect(notOne.exitCode != 0 && notOne.stderr.contains("\(dir.path)/data") && notOne.stderr.contains("no DONE marker"), "\(notOne.transcript)")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
    }

    /// At flux-dev shapes (a checkpoint of USO's 239 M LoRA and 10.8 M projector parameters
    /// with their moments, written by `uso bench ckpt --keep`, about 3 GB): the safetensors
    /// package reads every checkpoint tensor, each CRC-32 the metadata's; the export holds
    /// exactly USO's key set and shapes (built here from USO's rules, not from this project),
    /// both ComfyUI detection keys and its projector key, and ModelSpec flux-1-dev/lora.
    @Test func fluxDevShapedExportIsWhatUSOAndComfyUILoad() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let ckpt = "\(dir.path)/flux-dev-step"
        let bench = try MPIRun.runWithoutMPI(uso, ["bench", "ckpt", "--folder", "\(dir.path)/bench", "--rounds", "1", "--modes", "whole",
                                                   "--no-merge", "--keep", ckpt])
        try #require(bench.exitCode == 0 && bench.stdout.contains("kept the last whole checkpoint"), "\(bench.transcript)")
        let export = try MPIRun.runWithoutMPI(uso, ["ckpt", "export", ckpt, "--out", "\(dir.path)/out", "--dtype", "bf16"])
        try #require(export.exitCode == 0, "\(export.transcript)")
        let check = try Python.run("""
            import json, sys, zlib
            from safetensors import safe_open
            ck, out = sys.argv[1], sys.argv[2]
            # Every checkpoint tensor, read by the safetensors package, against its checksum.
            meta = json.load(open(ck + "/metadata.json"))
            handles = {}
            for t in meta["tensors"]:
                (s,) = t["shards"]
                f = handles.setdefault(t["file"], safe_open(ck + "/" + t["file"], "np"))
                a = f.get_tensor(t["name"])
                assert list(a.shape) == t["shape"] and "%08x" % zlib.crc32(a.astype("<f4").tobytes()) == s["crc32"], t["name"]
            # USO's key set and shapes at FLUX dims, rank 128, from USO's rules.
            r, d = 128, 3072
            want = {}
            for i in range(19):
                for k in ("1", "2"):
                    want[f"double_blocks.{i}.processor.qkv_lora{k}.down.weight"] = (r, d)
                    want[f"double_blocks.{i}.processor.qkv_lora{k}.up.weight"] = (3 * d, r)
                    want[f"double_blocks.{i}.processor.proj_lora{k}.down.weight"] = (r, d)
                    want[f"double_blocks.{i}.processor.proj_lora{k}.up.weight"] = (d, r)
            for i in range(38):
                want[f"single_blocks.{i}.processor.qkv_lora.down.weight"] = (r, d)
                want[f"single_blocks.{i}.processor.qkv_lora.up.weight"] = (3 * d, r)
                want[f"single_blocks.{i}.processor.proj_lora.down.weight"] = (r, d + 4 * d)
                want[f"single_blocks.{i}.processor.proj_lora.up.weight"] = (d, r)
            proj = {}
            for level in ("high", "mid", "low"):
                proj[f"feature_embedder.{level}_embedding_linear.0.weight"] = (64, 729)
                proj[f"feature_embedder.{level}_embedding_linear.0.bias"] = (64,)
                proj[f"feature_embedder.{level}_layer_norm.weight"] = (1152,)
                proj[f"feature_embedder.{level}_layer_norm.bias"] = (1152,)
                proj[f"feature_embedder.{level}_projection.weight"] = (d, 1152)
                proj[f"feature_embedder.{level}_projection.bias"] = (d,)
            for name, keys in (("dit_lora.safetensors", want), ("projector.safetensors", proj)):
                with safe_open(out + "/" + name, "np") as f:
                    got = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
                    m = f.metadata()
                missing, extra = set(keys) - set(got), set(got) - set(keys)
                assert not missing and not extra, (name, sorted(missing)[:3], sorted(extra)[:3])
                bad = [k for k in keys if got[k] != keys[k]]
                assert not bad, (name, bad[:3], [got[k] for k in bad[:3]])
                assert m["modelspec.architecture"] == "flux-1-dev/" + ("lora" if name.startswith("dit") else "projector"), m
            assert sum(a * b for a, b in want.values()) == 239075328
            assert "single_blocks.37.processor.qkv_lora.up.weight" in want and "double_blocks.18.processor.qkv_lora2.up.weight" in want
            assert "feature_embedder.mid_layer_norm.bias" in proj
            print("OK", len(meta["tensors"]), len(want), len(proj))
            """, [ckpt, "\(dir.path)/out"])
        #expect(check.exitCode == 0 && check.stdout.hasPrefix("OK"), "\(check.transcript)")
    }
}
