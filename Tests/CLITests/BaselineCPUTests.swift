import Foundation
import TensorCore
import Testing
import USOTestSupport

/// The binary built here on a CPU without AVX: run under qemu's user-mode emulator with a
/// Nehalem CPU model (SSE4.2, no AVX), it must pick the baseline kernel tier and an SSE BLAS
/// core by itself, and train to the same losses as on this machine's widest tier (within
/// float rounding: the BLAS kernels differ). qemu-user is installed by Scripts/bootstrap.sh.
@Suite(.serialized)
struct BaselineCPUTests {
    let uso = MPIRun.executable("uso")

    static var qemu: String? { try? MPIRun.which("qemu-x86_64") }

    func losses(_ run: String) throws -> [(loss: Double, gradNorm: Double)] {
        try String(contentsOfFile: "\(run)/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            let o = try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
            return (o["loss"] as! Double, o["grad_norm"] as! Double)
        }
    }

    @Test(.enabled(if: qemu != nil, "qemu-x86_64 is not installed (Scripts/bootstrap.sh installs qemu-user)"))
    func runsAndTrainsTheSameOnABaselineCPU() throws {
        let qemu = try #require(Self.qemu)
        // What the emulated CPU is told and chooses (OpenBLAS's own pick: nothing better is known below AVX).
        let doctor = try MPIRun.runWithoutMPI(qemu, ["-cpu", "Nehalem", uso, "doctor"], unsetting: ["OPENBLAS_CORETYPE", KernelTier.variable])
        #expect(doctor.exitCode == 0, "\(doctor.transcript)")
        #expect(doctor.stdout.contains("Kernels:   baseline"), "\(doctor.stdout)")
        #expect(!doctor.stdout.contains(" avx"), "the emulated CPU reports AVX: \(doctor.stdout)")
        let core = doctor.stdout.split(separator: "\n").first { $0.hasPrefix("BLAS core: ") }
            .map { String($0.dropFirst("BLAS core: ".count).prefix { $0 != "," }) } ?? ""
        #expect((OpenBLASCores.level(of: core) ?? 9) <= 1, "BLAS core \(core) on a CPU without AVX")

        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let made = try MPIRun.runWithoutMPI(uso, ["data", "synth", "--out", "\(dir.path)/data", "--resolution", "32", "--triplets", "16",
                                                  "--pairs", "16", "--style-images", "16", "--shard-size", "16"])
        try #require(made.exitCode == 0, "\(made.transcript)")
        func config(_ name: String) throws -> String {
            try dir.write("\(name).toml", """
                [run]
                stage = "base"
                preset = "tiny"
                out = "\(dir.path)/\(name)"
                steps = 3
                init_weights = "random"
                [data]
                path = "\(dir.path)/data/pairs"
                global_batch = 4
                [optim]
                lr = 2e-3
                """)
        }
        let native = try MPIRun.runWithoutMPI(uso, ["train", "--config", try config("native")])
        try #require(native.exitCode == 0, "\(native.transcript)")
        let emulated = try MPIRun.runWithoutMPI(qemu, ["-cpu", "Nehalem", uso, "train", "--config", try config("emulated")],
                                                unsetting: ["OPENBLAS_CORETYPE", KernelTier.variable])
        try #require(emulated.exitCode == 0, "\(emulated.transcript)")
        let a = try losses("\(dir.path)/native"), b = try losses("\(dir.path)/emulated")
        try #require(a.count == 3 && b.count == 3, "native \(a), emulated \(b)")
        for (step, (x, y)) in zip(a, b).enumerated() {
            #expect(abs(x.loss - y.loss) <= 1e-5 * abs(x.loss), "step \(step): loss \(x.loss) native, \(y.loss) emulated")
            #expect(abs(x.gradNorm - y.gradNorm) <= 1e-5 * abs(x.gradNorm), "step \(step): grad norm \(x.gradNorm) vs \(y.gradNorm)")
        }
    }
}
