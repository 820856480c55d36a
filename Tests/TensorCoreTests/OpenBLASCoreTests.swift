import TensorCore
import Testing

/// The rule that picks OpenBLAS's kernels from a CPU's feature flags, on fake feature sets.
struct OpenBLASCoreTests {
    typealias F = CPUFeatures.Flag
    static let sse: Set<F> = [.sse3, .ssse3, .sse41, .sse42]
    static let avx: Set<F> = sse.union([.avx])
    static let avx2: Set<F> = avx.union([.fma, .avx2])
    static let avx512: Set<F> = avx2.union([.avx512f, .avx512dq, .avx512cd, .avx512bw, .avx512vl])
    static let avx512bf16: Set<F> = avx512.union([.avx512bf16])

    static func cpu(_ vendor: CPUFeatures.Vendor, _ flags: Set<F>, family: Int = 6, model: Int = 207) -> CPUFeatures {
        CPUFeatures(vendor: vendor, family: family, model: model, flags: flags)
    }

    /// (CPU, OpenBLAS's own pick, what uso must force or nil to keep the pick).
    static let table: [(CPUFeatures, String, String?)] = [
        // Intel family 6 model 207 (AVX-512 + BF16 + AMX): 0.3.21 falls back to Prescott.
        (cpu(.intel, avx512bf16.union([.amxTile, .amxBF16])), "Prescott", "Cooperlake"),
        (cpu(.intel, avx512bf16), "Haswell", "Cooperlake"),
        (cpu(.intel, avx512bf16), "Cooperlake", nil),
        (cpu(.intel, avx512, model: 85), "Prescott", "SkylakeX"),
        (cpu(.intel, avx512, model: 85), "SkylakeX", nil),
        (cpu(.intel, avx512, model: 85), "Cooperlake", nil),        // never downgrade
        (cpu(.intel, avx2, model: 60), "Prescott", "Haswell"),
        (cpu(.intel, avx2, model: 60), "Sandybridge", "Haswell"),
        (cpu(.intel, avx2, model: 60), "Haswell", nil),
        (cpu(.intel, avx, model: 42), "Prescott", "Sandybridge"),
        (cpu(.intel, avx, model: 42), "Nehalem", "Sandybridge"),
        (cpu(.intel, sse, model: 26), "Prescott", nil),             // below AVX: OpenBLAS decides
        (cpu(.intel, sse, model: 26), "Nehalem", nil),
        // AMD: Zen 4 and Zen 5 have AVX-512 with BF16, Zen 2/3 AVX2 + FMA.
        (cpu(.amd, avx512bf16, family: 25, model: 17), "Zen", "Cooperlake"),
        (cpu(.amd, avx512bf16, family: 26, model: 2), "Haswell", "Cooperlake"),
        (cpu(.amd, avx512bf16, family: 26, model: 2), "Prescott", "Cooperlake"),
        (cpu(.amd, avx2, family: 23, model: 49), "Prescott", "Zen"),
        (cpu(.amd, avx2, family: 23, model: 49), "Barcelona", "Zen"),
        (cpu(.amd, avx2, family: 23, model: 49), "Zen", nil),
        (cpu(.amd, avx2, family: 23, model: 49), "Haswell", nil),   // same level: keep
        (cpu(.hygon, avx2, family: 24, model: 0), "Prescott", "Zen"),
        (cpu(.amd, avx, family: 21, model: 1), "Barcelona", "Bulldozer"),
        // A generic pick is always replaced when the features allow better.
        (cpu(.intel, avx2), "Unknown", "Haswell"),
        // A pick this table does not rank (a newer OpenBLAS's name) is trusted.
        (cpu(.intel, avx512bf16), "SapphireRapids", nil),
        (cpu(.intel, avx512bf16), "Zen5", nil),
        // No features known (another architecture): nothing to decide.
        (cpu(.other, [], family: 0, model: 0), "Prescott", nil),
    ]

    @Test func decisionTable() {
        for (cpu, pick, want) in Self.table {
            let got = OpenBLASCores.override(openBLASPick: pick, cpu: cpu)
            #expect(got == want, "\(cpu) with OpenBLAS's pick \(pick): forced \(got ?? "nothing"), want \(want ?? "nothing")")
        }
    }

    /// AVX-512 counts only with all five SkylakeX subsets (the OS saving ZMM is folded into the flags).
    @Test func partialAVX512IsNotAVX512() {
        let partial = Self.avx2.union([.avx512f, .avx512cd])   // Knights Landing's subset
        #expect(OpenBLASCores.best(for: Self.cpu(.intel, partial)) == "Haswell")
        #expect(OpenBLASCores.best(for: Self.cpu(.intel, Self.avx2.subtracting([.fma]))) == "Sandybridge")
    }

    @Test func namesAreCaseInsensitiveAndRanked() {
        #expect(OpenBLASCores.isKnown("cooperlake") && OpenBLASCores.isKnown("SKYLAKEX"))
        #expect(!OpenBLASCores.isKnown("Foo") && !OpenBLASCores.isKnown(""))
        #expect(OpenBLASCores.level(of: "Prescott")! < OpenBLASCores.level(of: "Haswell")!)
        #expect(OpenBLASCores.level(of: "Haswell")! < OpenBLASCores.level(of: "SkylakeX")!)
        #expect(OpenBLASCores.level(of: "SkylakeX")! < OpenBLASCores.level(of: "Cooperlake")!)
        #expect(OpenBLASCores.level(of: "Zen") == OpenBLASCores.level(of: "Haswell"))
    }

    /// What the report says about a user's value: unknown is an error, older is a warning.
    @Test func reportJudgesTheUsersValue() {
        typealias R = BLASCoreSelection.Report
        let unknown = R(core: "Cooperlake", source: .user, openBLASPick: nil, best: "Haswell", requested: "SapphireRapidz")
        let message = unknown.unknownRequestError ?? ""
        #expect(message.contains("'SapphireRapidz'") && message.contains("SkylakeX, Cooperlake") && message.contains("Haswell on this CPU"),
                "\(message)")
        let empty = R(core: "Cooperlake", source: .user, openBLASPick: nil, best: nil, requested: "")
        #expect(empty.unknownRequestError?.contains("an empty value") == true)
        // A newer OpenBLAS that honours a name this table lacks is not an error.
        let honoured = R(core: "SapphireRapids", source: .user, openBLASPick: nil, best: "Cooperlake", requested: "sapphirerapids")
        #expect(honoured.unknownRequestError == nil)
        let older = R(core: "Haswell", source: .user, openBLASPick: nil, best: "Cooperlake", requested: "Haswell")
        #expect(older.unknownRequestError == nil)
        #expect(older.remainingFallback?.contains("OPENBLAS_CORETYPE=Haswell asks for it") == true)
        let best = R(core: "Cooperlake", source: .uso, openBLASPick: "Prescott", best: "Cooperlake", requested: nil)
        #expect(best.remainingFallback == nil && best.unknownRequestError == nil)
    }

    /// This machine's flags are self-consistent: AVX-512 implies AVX2 + FMA implies AVX.
    @Test func hostFeaturesAreConsistent() {
        let host = CPUFeatures.host
        if host.hasAVX512 { #expect(host.hasAVX2FMA, "\(host)") }
        if host.hasAVX2FMA { #expect(host.has(.avx), "\(host)") }
        if host.has(.avx512bf16) { #expect(host.hasAVX512, "\(host)") }
    }
}
