import Foundation
import TensorCore
import Testing
import Training
import USOModel
import USOTestSupport

/// Flow matching's schedule and targets, AdamW against its formula, the learning-rate
/// schedules, and the supervised-contrastive gradient.
struct OptimizationTests {
    @Test func shiftedTimestepsFollowFlux() {
        // mu = 0.5 + 0.65/3840 (L - 256); at L = 256, mu = 0.5.
        #expect(abs(FlowMatching.mu(tokens: 256) - 0.5) < 1e-12)
        #expect(abs(FlowMatching.mu(tokens: 4096) - 1.15) < 1e-12)
        let t = 0.3, e = exp(0.5)
        #expect(abs(FlowMatching.shift(t, tokens: 256) - e / (e + (1 / t - 1))) < 1e-12)
        let f = FlowMatching(seed: 1, timesteps: .shifted)
        let grid = Set((0..<3000).map { f.t(sampleID: Int64($0), epoch: 0, tokens: 64) })
        #expect(grid.count > 900 && grid.count <= 1000, "draws from the 1000-point grid")
        #expect(grid.allSatisfy { $0 > 0 && $0 <= 1 })
        #expect(f.t(sampleID: 5, epoch: 0, tokens: 64) == f.t(sampleID: 5, epoch: 0, tokens: 64))
        let ln = FlowMatching(seed: 1, timesteps: .logitNormal(mean: 0, std: 1))
        let mean = (0..<4000).map { Double(ln.t(sampleID: Int64($0), epoch: 1, tokens: 64)) }.reduce(0, +) / 4000
        #expect(abs(mean - 0.5) < 0.02)
    }

    @Test func interpolationAndLoss() {
        let x0: [Float] = [1, -2, 0.5], noise: [Float] = [0, 1, 1]
        var xt = [Float](repeating: 0, count: 3), v = xt, dv = xt
        FlowMatching.interpolate(3, x0: x0, noise: noise, t: 0.25, xt: &xt, velocity: &v)
        #expect(xt == [0.75, -1.25, 0.625] && v == [-1, 3, 0.5])
        let loss = FlowMatching.loss(3, vhat: [0, 3, 0], target: v, scale: 0.5, dvhat: &dv)
        #expect(abs(loss - (1 + 0 + 0.25) / 3) < 1e-12)
        let want: [Float] = [Float(1.0 / 3.0), 0, Float(-0.5 / 3.0)]
        let cmp = Approx.compare(dv, want, .float32VersusFloat64, "dv")
        #expect(cmp.passed, "\(cmp)")
    }

    @Test func adamWMatchesItsFormula() {
        let r = ParameterRegistry()
        let p = r.make("w", [3], group: .base, initializer: .zeros)
        let store = ParameterStore(r, seed: 0)
        store.allocateGradients { _ in true }
        p.value.assign([1, -1, 0.5])
        let adam = AdamW(store: store, hyper: .init(beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1))
        var w = [1.0, -1.0, 0.5], m = [0.0, 0, 0], v = [0.0, 0, 0]
        func formula(_ step: Int, _ g: [Double]) {
            for i in 0..<3 {
                m[i] = 0.9 * m[i] + 0.1 * g[i]
                v[i] = 0.99 * v[i] + 0.01 * g[i] * g[i]
                let mh = m[i] / (1 - pow(0.9, Double(step))), vh = v[i] / (1 - pow(0.99, Double(step)))
                w[i] -= 0.01 * (mh / (vh.squareRoot() + 1e-8) + 0.1 * w[i])
            }
        }
        for step in 1...3 {
            let g = [0.3 * Double(step), -0.2, 0.05]
            p.grad!.assign(g.map { Float($0) })
            adam.update(lr: 0.01)
            formula(step, g)
        }
        let cmp = Approx.compare(p.value.toArray(), w, .float32VersusFloat64, "weights")
        #expect(cmp.passed, "\(cmp)")
        // Clipping: a norm of 5 clipped to 1 scales the gradients the next update reads, and
        // only that update (the gradients themselves stay as they are).
        p.grad!.assign([3, 4, 0])
        let norm = adam.clip(maxNorm: 1)
        #expect(abs(norm - 5) < 1e-6)
        adam.update(lr: 0.01)
        formula(4, [3 / (5 + 1e-6), 4 / (5 + 1e-6), 0])
        #expect(p.grad!.toArray() == [3, 4, 0])
        adam.update(lr: 0.01)
        formula(5, [3, 4, 0])
        let clipped = Approx.compare(p.value.toArray(), w, .float32VersusFloat64, "weights after a clipped and an unclipped update")
        #expect(clipped.passed, "\(clipped)")
    }

    @Test func schedules() {
        let c = LearningRateSchedule(peak: 1, warmup: 4, total: 10, kind: .constant)
        let rates: [Double] = [0, 1, 3, 4, 9].map { c.rate(at: $0) }
        #expect(rates == [0.25, 0.5, 1, 1, 1])
        let cos = LearningRateSchedule(peak: 1, minLR: 0.1, warmup: 0, total: 11, kind: .cosine)
        #expect(abs(cos.rate(at: 0) - 1) < 1e-12 && abs(cos.rate(at: 10) - 0.1) < 1e-12)
        #expect(abs(cos.rate(at: 5) - 0.55) < 1e-12)
    }

    @Test func supervisedContrastiveGradientMatchesFiniteDifferences() {
        var data = TestData(seed: 4)
        let n = 6, d = 5
        var raw = data.array(n * d)
        let labels: [Int32] = [0, 1, 0, 2, 1, 0]   // sample 3 has no positive
        var grad: [Float] = []
        let (_, anchors) = SupervisedContrastive.loss(raw, labels: labels, dim: d, temperature: 0.5, scale: 1, gradient: &grad)
        #expect(anchors == 5)
        // Differentiate with respect to the (unnormalised) inputs, treated as given embeddings.
        var numeric: [Double] = []
        for i in 0..<(n * d) {
            let saved = raw[i]
            var scratch: [Float] = []
            raw[i] = saved + 1e-2
            let up = SupervisedContrastive.loss(raw, labels: labels, dim: d, temperature: 0.5, scale: 1, gradient: &scratch).loss
            raw[i] = saved - 1e-2
            let down = SupervisedContrastive.loss(raw, labels: labels, dim: d, temperature: 0.5, scale: 1, gradient: &scratch).loss
            raw[i] = saved
            numeric.append((up - down) / 2e-2)
        }
        let cmp = Approx.compare(grad, numeric, .finiteDifferenceFloat32, "dz")
        #expect(cmp.passed, "\(cmp)")
    }
}
