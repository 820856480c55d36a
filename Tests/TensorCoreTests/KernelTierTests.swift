import Foundation
import TensorCore
import Testing
import VectorKernels

/// Every kernel tier this machine runs against the baseline tier, element by element, and
/// the baseline against plain Double arithmetic: the AVX2 and AVX-512 builds of the same
/// source must compute the same values as the portable one (they use the same IEEE
/// operations in the same order, so the tests ask for equal bits), and the portable one
/// must compute the right values.
struct KernelTierTests {
    /// Sizes around the 16-lane chunk: empty, tails only, whole chunks, both.
    static let sizes = [0, 1, 7, 15, 16, 17, 33, 200, 1000]

    /// Deterministic values in [-4, 4) (and a few larger, for exp's clamp).
    static func values(_ n: Int, seed: UInt64) -> [Float] {
        var s = RandomStream(seed: seed, purpose: .evaluation, id: UInt64(n))
        return (0..<n).map { i in i % 97 == 3 ? 40 * (s.nextUniform() - 0.5) : 8 * s.nextUniform() - 4 }
    }

    /// Runs `body` for the baseline and for `tier` on copies of the same inputs and
    /// requires equal outputs (bit for bit).
    static func sameOnEveryTier(_ name: String, count: Int, inputs: Int, outputs: Int,
                                _ body: (any VectorKernelSet.Type, [UnsafePointer<Float>], [UnsafeMutablePointer<Float>]) -> [Float]) {
        let ins = (0..<inputs).map { values(count, seed: UInt64(100 + $0)) }
        func run(_ tier: KernelTier) -> [Float] {
            let outs = (0..<outputs).map { values(count, seed: UInt64(200 + $0)) }
            let inBuffers = ins.map { a -> UnsafeMutablePointer<Float> in
                let p = UnsafeMutablePointer<Float>.allocate(capacity: max(a.count, 1)); p.initialize(from: a, count: a.count); return p
            }
            let outBuffers = outs.map { a -> UnsafeMutablePointer<Float> in
                let p = UnsafeMutablePointer<Float>.allocate(capacity: max(a.count, 1)); p.initialize(from: a, count: a.count); return p
            }
            defer { (inBuffers + outBuffers).forEach { $0.deallocate() } }
            var result = body(tier.kernels, inBuffers.map { UnsafePointer($0) }, outBuffers)
            for p in outBuffers { result += Array(UnsafeBufferPointer(start: p, count: count)) }
            return result
        }
        let reference = run(.baseline)
        for tier in KernelTier.runnable where tier != .baseline {
            let got = run(tier)
            let differing = zip(got, reference).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
            #expect(got.count == reference.count && differing.isEmpty,
                    "\(name), n = \(count): tier \(tier.rawValue) differs from baseline at \(differing.count) of \(reference.count) values, first \(differing.first.map { "index \($0.offset): \($0.element.0) vs \($0.element.1)" } ?? "-")")
        }
    }

    @Test(arguments: sizes)
    func elementwiseKernelsAgree(n: Int) {
        Self.sameOnEveryTier("silu", count: n, inputs: 1, outputs: 1) { k, i, o in k.siluForward(n, i[0], o[0]); return [] }
        Self.sameOnEveryTier("silu'", count: n, inputs: 2, outputs: 1) { k, i, o in k.siluBackwardAccumulate(n, i[0], i[1], o[0]); return [] }
        Self.sameOnEveryTier("gelu", count: n, inputs: 1, outputs: 1) { k, i, o in k.geluForward(n, i[0], o[0]); return [] }
        Self.sameOnEveryTier("gelu'", count: n, inputs: 2, outputs: 1) { k, i, o in k.geluBackwardAccumulate(n, i[0], i[1], o[0]); return [] }
        Self.sameOnEveryTier("gelu saving slope", count: n, inputs: 0, outputs: 2) { k, _, o in k.geluForwardSavingSlope(n, o[0], o[1]); return [] }
        Self.sameOnEveryTier("gelu' from slope", count: n, inputs: 2, outputs: 1) { k, i, o in k.geluBackwardFromSlope(n, i[0], i[1], o[0]); return [] }
        Self.sameOnEveryTier("gelu' in place", count: n, inputs: 1, outputs: 1) { k, i, o in k.geluBackwardInPlace(n, o[0], i[0]); return [] }
        Self.sameOnEveryTier("add", count: n, inputs: 1, outputs: 1) { k, i, o in k.add(n, i[0], o[0]); return [] }
        Self.sameOnEveryTier("fill", count: n, inputs: 0, outputs: 1) { k, _, o in k.fill(n, o[0], 0.25); return [] }
        Self.sameOnEveryTier("axpy", count: n, inputs: 1, outputs: 1) { k, i, o in k.axpy(n, -1.5, i[0], o[0]); return [] }
        Self.sameOnEveryTier("scale", count: n, inputs: 1, outputs: 1) { k, i, o in k.scale(n, i[0], 0.3, o[0]); return [] }
        Self.sameOnEveryTier("reductions", count: n, inputs: 2, outputs: 0) { k, i, _ in
            [k.sum(n, i[0]), k.max(n, i[0]), k.dot(n, i[0], i[1]), Float(k.dotDouble(n, i[0], i[1])), k.allFinite(n, i[0]) ? 1 : 0]
        }
        Self.sameOnEveryTier("adamW", count: n, inputs: 1, outputs: 3) { k, i, o in
            // weights o[0], moments o[1] and o[2] (v must be non-negative).
            for j in 0..<n { o[2][j] = abs(o[2][j]) }
            k.adamW(n, o[0], i[0], 0.7, o[1], o[2], 0.9, 0.999, 0.1, 0.001, 1e-3, 1e-5, 1e-8)
            return []
        }
    }

    /// Row kernels over (rows, cols) with cols around the chunk size.
    @Test(arguments: [1, 7, 16, 32, 33, 200])
    func rowKernelsAgree(cols: Int) {
        let rows = 5, n = rows * cols
        Self.sameOnEveryTier("softmax", count: n, inputs: 0, outputs: 1) { k, _, o in k.softmaxForwardInPlace(rows, cols, 0.7, o[0]); return [] }
        Self.sameOnEveryTier("softmax'", count: n, inputs: 1, outputs: 1) { k, i, o in k.softmaxBackwardInPlace(rows, cols, i[0], o[0]); return [] }
        Self.sameOnEveryTier("layernorm", count: n, inputs: 3, outputs: 3) { k, i, o in
            k.layerNormForward(rows, cols, 1e-6, i[0], i[1], i[2], o[0], o[1], o[2]); return []
        }
        Self.sameOnEveryTier("layernorm, no affine", count: n, inputs: 1, outputs: 3) { k, i, o in
            k.layerNormForward(rows, cols, 1e-6, i[0], nil, nil, o[0], o[1], o[2]); return []
        }
        Self.sameOnEveryTier("layernorm'", count: n, inputs: 5, outputs: 3) { k, i, o in
            // mean and rstd (inputs 2, 3) stand for saved statistics: rstd positive.
            let rstd = UnsafeMutablePointer(mutating: i[3])
            for r in 0..<rows { rstd[r] = abs(rstd[r]) + 0.1 }
            k.layerNormBackwardAccumulate(rows, cols, i[0], i[1], i[2], i[3], i[4], o[0], o[1], o[2]); return []
        }
        Self.sameOnEveryTier("rmsnorm", count: n, inputs: 2, outputs: 2) { k, i, o in
            k.rmsNormForward(rows, cols, cols, 1e-6, i[0], i[1], o[0], cols, o[1]); return []
        }
        Self.sameOnEveryTier("rmsnorm'", count: n, inputs: 4, outputs: 2) { k, i, o in
            k.rmsNormBackwardAccumulate(rows, cols, cols, i[0], i[1], cols, i[2], i[3], o[0], cols, o[1]); return []
        }
        Self.sameOnEveryTier("modulate", count: n, inputs: 3, outputs: 1) { k, i, o in k.modulate(rows, cols, i[0], i[1], i[2], o[0]); return [] }
        Self.sameOnEveryTier("modulate'", count: n, inputs: 3, outputs: 3) { k, i, o in
            k.modulateBackward(rows, cols, i[0], i[1], i[2], o[0], o[1], o[2]); return []
        }
        Self.sameOnEveryTier("gated residual", count: n, inputs: 2, outputs: 1) { k, i, o in k.gatedResidualForward(rows, cols, i[0], i[1], o[0]); return [] }
        Self.sameOnEveryTier("gated residual'", count: n, inputs: 3, outputs: 2) { k, i, o in
            k.gatedResidualBackward(rows, cols, i[0], i[1], i[2], o[0], o[1]); return []
        }
        Self.sameOnEveryTier("bias", count: n, inputs: 1, outputs: 2) { k, i, o in
            k.addBias(rows, cols, i[0], o[0]); k.sumRowsAccumulate(rows, cols, i[0], o[1]); return []
        }
        if cols % 2 == 0 {
            Self.sameOnEveryTier("rope", count: n, inputs: 2, outputs: 1) { k, i, o in
                // One head of cols values: cols / 2 pairs per row; both directions.
                k.rotatePairs(rows, 1, cols / 2, i[0], i[1], o[0], cols, 1)
                k.rotatePairs(rows, 1, cols / 2, i[1], i[0], o[0], cols, -1)
                return []
            }
        }
    }

    /// The portable tier against plain arithmetic in Double (the tiers agree with it, above).
    @Test func baselineMatchesPlainArithmetic() {
        let k = KernelTier.baseline.kernels
        let rows = 3, cols = 37
        var x = Self.values(rows * cols, seed: 7)
        var p = x
        p.withUnsafeMutableBufferPointer { k.softmaxForwardInPlace(rows, cols, 0.5, $0.baseAddress!) }
        for r in 0..<rows {
            let row = x[(r * cols)..<((r + 1) * cols)].map { Double($0) * 0.5 }
            let m = row.max()!, e = row.map { Foundation.exp($0 - m) }, s = e.reduce(0, +)
            for c in 0..<cols { #expect(abs(Double(p[r * cols + c]) - e[c] / s) < 1e-6, "softmax[\(r), \(c)]") }
        }
        // LayerNorm without affine: zero mean and unit variance per row.
        var y = [Float](repeating: 0, count: rows * cols), mean = [Float](repeating: 0, count: rows), rstd = mean
        x.withUnsafeMutableBufferPointer { xp in
            k.layerNormForward(rows, cols, 0, xp.baseAddress!, nil, nil, &y, &mean, &rstd)
        }
        for r in 0..<rows {
            let row = y[(r * cols)..<((r + 1) * cols)].map(Double.init)
            let mu = row.reduce(0, +) / Double(cols), variance = row.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(cols)
            #expect(abs(mu) < 1e-6 && abs(variance - 1) < 1e-5, "layernorm row \(r): mean \(mu), variance \(variance)")
        }
        // RoPE by pairs against cos/sin in Double.
        let pairs = 12
        var v = Self.values(2 * pairs, seed: 9)
        let angles = (0..<pairs).map { Double($0) * 0.37 - 1 }
        let cosines = angles.map { Float(Foundation.cos($0)) }, sines = angles.map { Float(Foundation.sin($0)) }
        let before = v
        k.rotatePairs(1, 1, pairs, cosines, sines, &v, 2 * pairs, 1)
        for i in 0..<pairs {
            let (a, b) = (Double(before[2 * i]), Double(before[2 * i + 1]))
            #expect(abs(Double(v[2 * i]) - (Foundation.cos(angles[i]) * a - Foundation.sin(angles[i]) * b)) < 1e-6)
            #expect(abs(Double(v[2 * i + 1]) - (Foundation.sin(angles[i]) * a + Foundation.cos(angles[i]) * b)) < 1e-6)
        }
        // Reductions: a non-finite value is found anywhere, the max and sum are exact on small integers.
        var ints = (0..<53).map { Float($0 % 9) }
        // (Results bound first: #expect cannot call through an existential metatype.)
        let sum = k.sum(ints.count, ints), largest = k.max(ints.count, ints), finite = k.allFinite(ints.count, ints)
        #expect(sum == Float(ints.reduce(0, +)) && largest == 8 && finite)
        for at in [0, 15, 16, 52] {
            ints[at] = .nan
            let withNaN = k.allFinite(ints.count, ints)
            ints[at] = .infinity
            let withInfinity = k.allFinite(ints.count, ints)
            #expect(!withNaN && !withInfinity, "non-finite value at \(at) not found")
            ints[at] = 1
        }
    }

    /// The tier choice: the widest the CPU runs, a forced tier only when the CPU runs it.
    @Test func tierChoiceFollowsTheFeatures() {
        let avx512 = CPUFeatures(vendor: .intel, family: 6, model: 207,
                                 flags: [.avx, .fma, .avx2, .avx512f, .avx512dq, .avx512cd, .avx512bw, .avx512vl])
        let avx2 = CPUFeatures(vendor: .amd, family: 23, model: 49, flags: [.avx, .fma, .avx2])
        let old = CPUFeatures(vendor: .intel, family: 6, model: 26, flags: [.sse3, .sse42])
        #expect(KernelTier.best(for: avx512) == .avx512 && KernelTier.best(for: avx2) == .avx2 && KernelTier.best(for: old) == .baseline)
        #expect(KernelTier.runnable.contains(.baseline) && KernelTier.runnable.contains(KernelTier.active))
        #expect(KernelTier.active == KernelTier.best(for: .host) || KernelTier.isForced)
    }
}
