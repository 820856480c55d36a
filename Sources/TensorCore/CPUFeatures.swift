internal import CCPUID

/// What this CPU can execute, read from its own CPUID flags and the OS's saved register
/// state (XCR0): the facts the BLAS core choice and the kernel tier are decided from.
///
/// A vector extension counts only when the OS also saves its registers (AVX needs XCR0's
/// SSE and AVX bits, AVX-512 also the opmask and both ZMM halves), as OpenBLAS and
/// compilers' own dispatchers check.
public struct CPUFeatures: Sendable, Equatable, CustomStringConvertible {
    /// The CPU maker, from CPUID leaf 0's vendor string.
    public enum Vendor: String, Sendable {
        case intel = "GenuineIntel"
        case amd = "AuthenticAMD"
        case hygon = "HygonGenuine"
        case other

        /// AMD and Hygon (Zen-derived) share OpenBLAS's AMD kernels.
        public var isAMDFamily: Bool { self == .amd || self == .hygon }
    }

    /// The feature flags this project decides on.
    public enum Flag: String, Sendable, CaseIterable, Comparable {
        case sse3, ssse3, sse41 = "sse4.1", sse42 = "sse4.2", avx, fma, avx2
        case avx512f, avx512dq, avx512cd, avx512bw, avx512vl
        case avx512bf16 = "avx512_bf16", amxTile = "amx_tile", amxBF16 = "amx_bf16"

        public static func < (a: Flag, b: Flag) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }
    }

    public var vendor: Vendor
    /// Display family and model (base plus extended fields), as Linux's /proc/cpuinfo shows them.
    public var family: Int
    public var model: Int
    public var flags: Set<Flag>

    public init(vendor: Vendor, family: Int, model: Int, flags: Set<Flag>) {
        self.vendor = vendor
        self.family = family
        self.model = model
        self.flags = flags
    }

    public func has(_ flag: Flag) -> Bool { flags.contains(flag) }

    /// AVX-512 as SkylakeX has it (F, DQ, CD, BW, VL): what OpenBLAS's SkylakeX kernels and
    /// the `avx512` kernel tier need.
    public var hasAVX512: Bool {
        [.avx512f, .avx512dq, .avx512cd, .avx512bw, .avx512vl].allSatisfy(flags.contains)
    }

    /// AVX2 with FMA (Haswell's set): what OpenBLAS's Haswell/Zen kernels and the `avx2` tier need.
    public var hasAVX2FMA: Bool { has(.avx) && has(.avx2) && has(.fma) }

    public var description: String {
        let names = flags.sorted().map(\.rawValue).joined(separator: " ")
        return "\(vendor == .other ? "unknown vendor" : vendor.rawValue) family \(family) model \(model) [\(names)]"
    }

    /// This machine's CPU (read once). On non-x86 builds: no flags.
    public static let host: CPUFeatures = read()

    static func read() -> CPUFeatures {
        guard uso_cpuid_available() != 0 else { return CPUFeatures(vendor: .other, family: 0, model: 0, flags: []) }
        let leaf0 = cpuid(0)
        let vendorBytes = [leaf0[1], leaf0[3], leaf0[2]].flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
        let vendor = Vendor(rawValue: String(decoding: vendorBytes, as: UTF8.self)) ?? .other
        let maxLeaf = leaf0[0]
        let leaf1 = cpuid(1)
        let eax = leaf1[0]
        let baseFamily = Int((eax >> 8) & 0xF), baseModel = Int((eax >> 4) & 0xF)
        let family = baseFamily == 0xF ? baseFamily + Int((eax >> 20) & 0xFF) : baseFamily
        let model = (baseFamily == 0x6 || baseFamily == 0xF) ? (Int((eax >> 16) & 0xF) << 4) + baseModel : baseModel
        let ecx1 = leaf1[2]
        func bit(_ word: UInt32, _ n: UInt32) -> Bool { (word >> n) & 1 == 1 }

        // What the OS saves: XCR0 bits 1-2 (SSE, AVX), 5-7 (opmask, ZMM0-15 upper, ZMM16-31), 17-18 (AMX).
        let osxsave = bit(ecx1, 27)
        let xcr0 = osxsave ? uso_xgetbv0() : 0
        let osAVX = osxsave && (xcr0 & 0x6) == 0x6
        let osAVX512 = osAVX && (xcr0 & 0xE0) == 0xE0
        let osAMX = osAVX512 && (xcr0 & 0x60000) == 0x60000

        var flags: Set<Flag> = []
        if bit(ecx1, 0) { flags.insert(.sse3) }
        if bit(ecx1, 9) { flags.insert(.ssse3) }
        if bit(ecx1, 19) { flags.insert(.sse41) }
        if bit(ecx1, 20) { flags.insert(.sse42) }
        if osAVX && bit(ecx1, 28) { flags.insert(.avx) }
        if osAVX && bit(ecx1, 12) { flags.insert(.fma) }
        if maxLeaf >= 7 {
            let leaf7 = cpuid(7)
            let ebx7 = leaf7[1], edx7 = leaf7[3]
            if osAVX && bit(ebx7, 5) { flags.insert(.avx2) }
            if osAVX512 {
                let bits: [(UInt32, Flag)] = [(16, .avx512f), (17, .avx512dq), (28, .avx512cd), (30, .avx512bw), (31, .avx512vl)]
                for (n, f) in bits where bit(ebx7, n) { flags.insert(f) }
                if leaf7[0] >= 1, bit(cpuid(7, 1)[0], 5) { flags.insert(.avx512bf16) }
            }
            if osAMX && bit(edx7, 24) { flags.insert(.amxTile) }
            if osAMX && bit(edx7, 22) { flags.insert(.amxBF16) }
        }
        return CPUFeatures(vendor: vendor, family: family, model: model, flags: flags)
    }

    private static func cpuid(_ leaf: UInt32, _ subleaf: UInt32 = 0) -> [UInt32] {
        var regs: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
        withUnsafeMutablePointer(to: &regs) { p in
            p.withMemoryRebound(to: UInt32.self, capacity: 4) { uso_cpuid(leaf, subleaf, $0) }
        }
        return [regs.0, regs.1, regs.2, regs.3]
    }
}
