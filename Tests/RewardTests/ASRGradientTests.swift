import Foundation
import Reward
import TensorCore
import Testing
@testable import Training
import USOModel
import USOTestSupport

/// The style reward's gradient, from the CSD model back through the autoencoder's decoder
/// and the DiT to the LoRA and projector weights, against central finite differences of
/// L = lambda * omega(r(decode(x_t - t v_hat))) at preset tiny (Tolerance.finiteDifferenceFloat32).
struct ASRGradientTests {
    @Test(arguments: [RewardLoss.oneMinus, RewardLoss.hinge(tau: 2)])
    func rewardGradientReachesTheAdapters(loss kind: RewardLoss) throws {
        let c = ModelPreset.tiny.config
        let model = try USOModel(config: c)
        let store = model.allocate(seed: 21)
        var data = TestData(seed: 22)
        for p in model.registry.parameters(in: .lora) { p.value.assign(data.array(p.count, scale: 0.3)) }
        store.allocateGradients { $0.group == .lora || $0.group == .projector }
        let csd = CSDModel(config: c)
        csd.allocate(seed: 23)
        let reward = StyleReward(csd: csd)
        let step = StyleRewardStep(model: model, service: .colocated(reward), loss: kind, weight: 0.7, startStep: 0)
        let slot = step.makeSlot()
        let acts = model.makeActivations()

        let tokens = c.noisyTokens, inC = c.dit.inChannels, side = c.autoencoder.latentSize / 2
        let xt = Tensor(shape: [tokens, inC], values: data.array(tokens * inC))
        let reference = Tensor(shape: [tokens, inC], values: data.array(tokens * inC))
        let features = Tensor(shape: [3 * c.styleEncoder.tokens * c.styleEncoder.width], values: data.array(3 * c.styleEncoder.tokens * c.styleEncoder.width))
        let text = Tensor(shape: [4, c.text.width], values: data.array(4 * c.text.width))
        let pooled = Tensor(shape: [c.text.pooledWidth], values: data.array(c.text.pooledWidth))
        let styleImage = Tensor(shape: [3, 32, 32], values: data.array(3 * 32 * 32))
        let t: Float = 0.6
        let sample = USOModel.Sample(noisy: xt, grid: (side, side), references: reference, referenceCount: 1,
                                     referenceGrid: (side, side), styleFeatures: features, styleCount: 1,
                                     text: text, textRows: 4, pooled: pooled, t: t)
        func lossValue() throws -> Double {
            model.forward(sample, acts)
            try step.start(slot, xt: xt, vhat: acts.output.data, t: t, styleImage: styleImage, styleID: 1, step: 0, microBatch: 0)
            slot.active = false
            return Double(0.7 * kind.loss(slot.reward!))
        }
        _ = try lossValue()
        store.zeroGradients()
        let dv = Tensor(zeros: [tokens, inC])
        try step.start(slot, xt: xt, vhat: acts.output.data, t: t, styleImage: styleImage, styleID: 1, step: 0, microBatch: 0)
        let r = try step.finish(slot, dv: dv, t: t, lambda: 0.7, globalBatch: 1)
        #expect(r != nil)
        model.backward(dOutput: dv.data, acts)
        var failures: [String] = []
        var checked = 0
        for p in store.trainable where p.name.contains("single_blocks.1") || p.name.contains("double_blocks.0.processor.qkv_lora1")
            || p.name.hasPrefix("feature_embedder.high") {
            let idx = FiniteDifference.sampleIndices(p.count, count: 4)
            let numeric = FiniteDifference.gradient(of: p.value.buffer, indices: idx) { (try? lossValue()) ?? .nan }
            let cmp = Approx.compare(idx.map { p.grad![$0] }, numeric, .finiteDifferenceFloat32, p.name)
            if !cmp.passed { failures.append("\(cmp)") }
            checked += 1
        }
        #expect(checked >= 8)
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        // The gradient is not trivially zero.
        #expect(ElementwiseKernels.sumOfSquares(store.gradients.count, store.gradients.base) > 0)
    }
}
