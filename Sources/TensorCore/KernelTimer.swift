import Foundation

/// Optional wall-clock accounting of where a step spends its time, by kernel kind.
///
/// Off by default (one branch per kernel call). `uso bench step` turns it on for a
/// separate profiling pass, so the timed passes measure the kernels undisturbed.
public enum KernelTimer {
    public enum Kind: String, CaseIterable, Sendable {
        case gemm = "GEMM (cblas_sgemm)"
        case softmax = "softmax"
        case layerNorm = "LayerNorm + adaLN"
        case rmsNorm = "RMSNorm (Q/K)"
        case activation = "GELU / SiLU"
        case rope = "RoPE"
    }

    nonisolated(unsafe) public static var isEnabled = false
    nonisolated(unsafe) static var seconds = [Double](repeating: 0, count: Kind.allCases.count)
    nonisolated(unsafe) static var calls = [Int](repeating: 0, count: Kind.allCases.count)

    @inlinable
    public static func start() -> UInt64 {
        isEnabled ? DispatchTime.now().uptimeNanoseconds : 0
    }

    @inlinable
    public static func stop(_ kind: Kind, _ started: UInt64) {
        guard isEnabled else { return }
        record(kind, Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9)
    }

    @usableFromInline
    static func record(_ kind: Kind, _ s: Double) {
        let i = Kind.allCases.firstIndex(of: kind)!
        seconds[i] += s
        calls[i] += 1
    }

    public static func reset() {
        for i in seconds.indices { seconds[i] = 0; calls[i] = 0 }
    }

    /// Seconds and calls per kind since the last reset.
    public static func totals() -> [(kind: Kind, seconds: Double, calls: Int)] {
        Kind.allCases.enumerated().map { ($1, seconds[$0], calls[$0]) }
    }
}
