import Foundation
import VectorKernels
import VectorKernelsAVX2
import VectorKernelsAVX512
import VectorKernelsBaseline

/// Which compiled instance of the vector kernels (GELU, SiLU, softmax, norms, RoPE, AdamW,
/// reductions, element-wise) this process runs: runtime dispatch on the CPU's features.
///
/// The kernels are written once (`VectorKernels.Kernel`) and compiled three times, for
/// baseline x86-64 (SSE2), for AVX2 + FMA machines (`-target-cpu haswell`) and for AVX-512
/// machines (`-target-cpu skylake-avx512`); the best tier the CPU runs is chosen at the
/// first kernel call. So one binary runs at full vector width on new CPUs and still runs on
/// a baseline x86-64 one, which a build flag for the whole program could not give. The tiers
/// use the same IEEE operations in the same order, so they compute the same bits
/// (KernelTierTests compares them). `USO_KERNELS=baseline|avx2|avx512` forces a tier the CPU runs.
public enum KernelTier: String, CaseIterable, Sendable, Codable {
    case baseline, avx2, avx512

    /// The environment variable that forces a tier.
    public static let variable = "USO_KERNELS"

    /// This tier's compiled kernels.
    public var kernels: any VectorKernelSet.Type {
        switch self {
        case .baseline: return VectorKernelsBaseline.Tier.self
        case .avx2: return VectorKernelsAVX2.Tier.self
        case .avx512: return VectorKernelsAVX512.Tier.self
        }
    }

    /// Whether `cpu` executes this tier's instructions.
    public func runs(on cpu: CPUFeatures) -> Bool {
        switch self {
        case .baseline: return true
        case .avx2: return cpu.hasAVX2FMA
        case .avx512: return cpu.hasAVX512 && cpu.hasAVX2FMA
        }
    }

    /// The widest tier `cpu` runs.
    public static func best(for cpu: CPUFeatures) -> KernelTier {
        allCases.last { $0.runs(on: cpu) } ?? .baseline
    }

    /// The tiers this machine runs (for tests and `uso bench kernels`).
    public static var runnable: [KernelTier] { allCases.filter { $0.runs(on: .host) } }

    /// The tier for `requested` (USO_KERNELS) on `cpu`, and a problem with the request, if any.
    static func choose(requested: String?, cpu: CPUFeatures) -> (KernelTier, String?) {
        let best = best(for: cpu)
        guard let requested else { return (best, nil) }
        guard let tier = KernelTier(rawValue: requested.lowercased()) else {
            return (best, "\(variable) is '\(requested)'; it takes baseline, avx2 or avx512 (or unset it: this CPU runs \(best.rawValue))")
        }
        guard tier.runs(on: cpu) else {
            return (best, "\(variable)=\(requested) asks for kernels this CPU cannot run (it runs up to \(best.rawValue))")
        }
        return (tier, nil)
    }

    private static let selection = choose(requested: ProcessInfo.processInfo.environment[variable], cpu: .host)

    /// The tier this process runs.
    public static var active: KernelTier { selection.0 }

    /// A USO_KERNELS value that could not be honoured (the process then runs the best tier).
    public static var requestProblem: String? { selection.1 }

    /// Whether the tier was forced by USO_KERNELS.
    public static var isForced: Bool { ProcessInfo.processInfo.environment[variable] != nil && selection.1 == nil }
}

/// The kernels every call below goes to (resolved once).
nonisolated(unsafe) let activeKernels: any VectorKernelSet.Type = KernelTier.active.kernels
