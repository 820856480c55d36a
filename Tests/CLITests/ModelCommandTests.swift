import Foundation
import Testing
import USOTestSupport

/// `uso model info` and `uso model dump` as a user runs them.
@Suite(.serialized)
struct ModelCommandTests {
    let uso = MPIRun.executable("uso")

    @Test func fluxDevListsUSOsLoRAAndProjectorKeys() throws {
        let job = try MPIRun.runWithoutMPI(uso, ["model", "info", "--preset", "flux-dev"])
        #expect(job.exitCode == 0, "\(job.transcript)")
        let lines = job.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("dit_lora.safetensors: 304 tensors, 239,075,328 (239.1 M) parameters"))
        #expect(lines.contains("projector.safetensors: 18 tensors, 10,773,120 (10.8 M) parameters"))
        #expect(lines.contains("  double_blocks.18.processor.qkv_lora2.up.weight [9216, 128]"))
        #expect(lines.contains("  single_blocks.0.processor.proj_lora.down.weight [128, 15360]"))
        #expect(lines.contains("  feature_embedder.low_embedding_linear.0.weight [64, 729]"))
        let keyLines = lines.filter { $0.hasPrefix("  double_blocks.") || $0.hasPrefix("  single_blocks.") || $0.hasPrefix("  feature_embedder.") }
        #expect(keyLines.count == 304 + 18)
        #expect(job.stdout.contains("noisy 4096, reference 4096, style 192, text 512"))
    }

    @Test func dumpWritesFilesThePythonPackageReads() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let job = try MPIRun.runWithoutMPI(uso, ["model", "dump", "--preset", "tiny", "--seed", "3", "--out", dir.path])
        #expect(job.exitCode == 0, "\(job.transcript)")
        let check = try Python.run("""
            import sys, json
            from safetensors.numpy import load_file
            from safetensors import safe_open
            d = sys.argv[1]
            out = load_file(d + "/outputs.safetensors")
            lora = load_file(d + "/weights/dit_lora.safetensors")
            proj = load_file(d + "/weights/projector.safetensors")
            grads = [k for k in out if k.startswith("grad.")]
            with safe_open(d + "/inputs.safetensors", "np") as f:
                names = [s["name"] for s in json.loads(f.metadata()["samples"])]
            ok = set(grads) == {"grad." + k for k in list(lora) + list(proj)} and "loss" in out and len(names) == 5
            print("OK" if ok else f"BAD {len(grads)} {names}")
            """, [dir.path])
        #expect(check.exitCode == 0 && check.stdout == "OK\n", "\(check.transcript)")
    }

    @Test func dumpRefusesFluxDev() throws {
        let job = try MPIRun.runWithoutMPI(uso, ["model", "dump", "--preset", "flux-dev", "--out", "/tmp/never"])
        #expect(job.exitCode != 0)
        #expect(job.stderr.contains("--preset flux-dev cannot be run on this machine"), "\(job.transcript)")
    }

    /// The release build (what users run, which ends locals' lifetimes early) dumps the same
    /// bytes twice, and the values are the model's: the loss equals the committed JAX
    /// reference's for the same seed. (A writer item once held bare pointers into tensors
    /// freed before the write, and release dumps held garbage that changed from run to run.)
    @Test func releaseDumpIsDeterministicAndRight() throws {
        let release = FakeHosts.repositoryRoot.appendingPathComponent(".build/release/uso").path
        try #require(FileManager.default.isExecutableFile(atPath: release), "no release build at \(release): run Scripts/bootstrap.sh")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        for run in ["a", "b"] {
            let job = try MPIRun.runWithoutMPI(release, ["model", "dump", "--preset", "tiny", "--seed", "7", "--out", "\(dir.path)/\(run)"])
            try #require(job.exitCode == 0, "\(job.transcript)")
        }
        for file in ["config.json", "inputs.safetensors", "outputs.safetensors", "weights/base.safetensors", "weights/dit_lora.safetensors",
                     "weights/projector.safetensors"] {
            let a = try Data(contentsOf: URL(fileURLWithPath: "\(dir.path)/a/\(file)"))
            let b = try Data(contentsOf: URL(fileURLWithPath: "\(dir.path)/b/\(file)"))
            let same = a == b   // a Bool: #expect(a == b) on Data renders every byte when it fails
            #expect(same, "\(file) differs between two release dumps")
        }
        let fixture = FakeHosts.repositoryRoot.appendingPathComponent("Tests/USOModelTests/Fixtures/tiny/reference.safetensors").path
        let check = try Python.run("""
            import sys
            from safetensors.numpy import load_file
            got = float(load_file(sys.argv[1] + "/outputs.safetensors")["loss"][0])
            want = float(load_file(sys.argv[2])["loss"][0])
            print(got, want)
            sys.exit(0 if abs(got - want) <= 1e-5 * abs(want) else 1)
            """, ["\(dir.path)/a", fixture])
        #expect(check.exitCode == 0, "release dump's loss against the reference: \(check.stdout) \(check.stderr)")
    }
}
