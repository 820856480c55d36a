import Foundation

/// OpenBLAS's x86-64 kernel families ("cores", the names `OPENBLAS_CORETYPE` takes), each
/// ranked by the instruction set its kernels need, and the rule that picks the best one for
/// a CPU's own feature flags.
///
/// Why this exists: a DYNAMIC_ARCH OpenBLAS picks its kernels from the CPU *model number* at
/// load time, and a distribution's OpenBLAS does not know CPUs newer than itself. Debian 12's
/// 0.3.21 falls back to Prescott (SSE3) on Intel family 6 model 207 and picks Haswell on AMD
/// Zen 4 and Zen 5, though all three have AVX-512: 3-6x (Intel) and 1.7x (Zen 5) below what
/// the SkylakeX or Cooperlake kernels reach on the same CPU. The features say what a CPU can
/// run whatever its model number is.
public enum OpenBLASCores {
    /// The core names OpenBLAS 0.3.21 accepts on x86-64 (its `corename` table), with the
    /// level of the instruction set each needs: 0 SSE2/SSE3, 1 SSSE3/SSE4, 2 AVX,
    /// 3 AVX2 + FMA, 4 AVX-512 (F, DQ, CD, BW, VL), 5 AVX-512 with BF16, 6 AMX.
    /// SapphireRapids is the name later releases (0.3.22 and up) use for AMX.
    public static let levels: [(name: String, level: Int)] = [
        ("Katmai", 0), ("Coppermine", 0), ("Northwood", 0), ("Prescott", 0), ("Banias", 0), ("Athlon", 0),
        ("Opteron", 0), ("Opteron_SSE3", 0),
        ("Core2", 1), ("Penryn", 1), ("Dunnington", 1), ("Atom", 1), ("Nano", 1), ("Bobcat", 1), ("Barcelona", 1),
        ("Nehalem", 1),
        ("Sandybridge", 2), ("Bulldozer", 2), ("Piledriver", 2), ("Steamroller", 2),
        ("Haswell", 3), ("Zen", 3), ("Excavator", 3),
        ("SkylakeX", 4),
        ("Cooperlake", 5),
    ]

    /// The names OpenBLAS 0.3.21 knows, in the order above (for error messages).
    public static var knownNames: [String] { levels.map(\.name) }

    /// The instruction-set level of core `name` (case-insensitive), nil for a name this
    /// table does not know ("Unknown", or a newer release's name).
    public static func level(of name: String) -> Int? {
        levels.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.level
    }

    /// Whether `name` is one of the names OpenBLAS 0.3.21 accepts (case-insensitive).
    public static func isKnown(_ name: String) -> Bool { level(of: name) != nil }

    /// The best core for `cpu`: AVX-512 with BF16 -> Cooperlake, AVX-512 -> SkylakeX (Intel
    /// and AMD alike: Zen 4 and 5 run them, as OpenBLAS 0.3.22 and later choose), AVX2 + FMA
    /// -> Haswell (Zen on AMD and Hygon), AVX -> Sandybridge (Bulldozer on AMD). Nil below
    /// AVX: there OpenBLAS's own choice stands.
    public static func best(for cpu: CPUFeatures) -> String? {
        if cpu.hasAVX512 { return cpu.has(.avx512bf16) ? "Cooperlake" : "SkylakeX" }
        if cpu.hasAVX2FMA { return cpu.vendor.isAMDFamily ? "Zen" : "Haswell" }
        if cpu.has(.avx) { return cpu.vendor.isAMDFamily ? "Bulldozer" : "Sandybridge" }
        return nil
    }

    /// What to do about OpenBLAS's own choice `openBLASPick` on `cpu`: the core to force,
    /// or nil to keep it. Forces only when the pick is a generic or older core than the
    /// CPU's features allow; a pick this table does not rank (a newer OpenBLAS's name) is kept.
    public static func override(openBLASPick: String, cpu: CPUFeatures) -> String? {
        guard let best = best(for: cpu), let bestLevel = level(of: best) else { return nil }
        if openBLASPick.caseInsensitiveCompare("Unknown") == .orderedSame { return best }
        guard let pickLevel = level(of: openBLASPick) else { return nil }
        return pickLevel < bestLevel ? best : nil
    }
}
