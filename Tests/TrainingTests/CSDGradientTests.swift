import TensorCore
import Testing
import Training
import USOModel
import USOTestSupport

/// The CSD model (backbone, style head, L2 normalisation) under the supervised-contrastive
/// loss, as stage csd trains it: every parameter tensor against finite differences, every
/// probe informative (GradientCheck). Temperature 0.5 rather than CSD's 0.1 keeps the loss
/// smooth at the finite-difference step; the backward does not depend on it.
struct CSDGradientTests {
    @Test func csdUnderSupervisedContrastiveLoss() {
        let model = CSDModel(config: ModelPreset.tiny.config)
        let store = model.allocate(seed: 3)
        var data = TestData(seed: 4)
        for p in model.registry.parameters { p.value.assign(data.array(p.count, scale: 0.4)) }
        store.allocateGradients { _ in true }
        let s = model.config.imageSize, d = model.embedding
        let labels: [Int32] = [0, 1, 0, 1, 2, 2]
        let images = labels.map { _ in Tensor(shape: [3, s, s], values: data.array(3 * s * s)) }
        let acts = labels.map { _ in model.makeActivations() }
        func lossAndGradient() -> (Double, [Float]) {
            var z = [Float](repeating: 0, count: labels.count * d)
            for k in labels.indices {
                model.forward(image: images[k].data, acts[k])
                for j in 0..<d { z[k * d + j] = acts[k].embedding[j] }
            }
            var g: [Float] = []
            let (loss, anchors) = SupervisedContrastive.loss(z, labels: labels, dim: d, temperature: 0.5, scale: 1, gradient: &g)
            precondition(anchors == labels.count)
            return (loss, g)
        }
        let (_, gradient) = lossAndGradient()
        store.zeroGradients()
        for k in labels.indices {
            gradient.withUnsafeBufferPointer { model.backward(dEmbedding: $0.baseAddress! + k * d, dImage: nil, acts[k]) }
        }
        // The loss is O(1) and some parameter gradients 1e-4 or less: each tensor probed at its own scale,
        // with a step of 5e-2 so that float32 rounding of the loss (1e-7 relative) stays below 1% of them.
        func loss() -> Double { lossAndGradient().0 }
        // A key bias shifts every score of a query's row alike, which softmax ignores: its
        // gradient is zero by structure, so it is checked to be zero, not probed.
        let keyBiases = model.registry.parameters.filter { $0.name.hasSuffix("k_proj.bias") }
        #expect(!keyBiases.isEmpty && keyBiases.allSatisfy { p in (0..<p.count).allSatisfy { abs(p.grad![$0]) < 1e-7 } },
                "key-bias gradients: \(keyBiases.map { p in (0..<p.count).map { p.grad![$0] } })")
        let failures = model.registry.parameters.filter { !$0.name.hasSuffix("k_proj.bias") }.compactMap { p in
            GradientCheck.probe(p.name, p.value.buffer, count: 6, step: 5e-2, normalize: true, analytic: { p.grad![$0] }, loss: loss)
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        #expect(model.registry.parameters.contains { $0.name.hasPrefix("csd.style_head") })
    }
}
