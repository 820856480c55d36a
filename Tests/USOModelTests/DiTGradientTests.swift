import TensorCore
import Testing
import USOModel
import USOTestSupport

/// The whole DiT's backward against central finite differences at a tiny size, every
/// parameter tensor probed (tolerance: Tolerance.finiteDifferenceFloat32; forward in
/// float32, loss L = sum(w * v_hat) accumulated in Double).
struct DiTGradientTests {
    static let config = DiTConfig(hiddenSize: 16, heads: 2, mlpRatio: 2, doubleBlocks: 1, singleBlocks: 1,
                                  axesDims: [2, 2, 4], inChannels: 8, contextDim: 6, vecDim: 5, timeEmbedDim: 8, loraRank: 2)

    final class Fixture {
        let registry = ParameterRegistry()
        let model: DiT
        let store: ParameterStore
        let acts: DiT.Activations
        let image: Tensor, style: Tensor, text: Tensor, pooled: Tensor, ids: Tensor, weights: Tensor
        let noisy = 4, refs = 3, styleRows = 2, textRows = 3

        init() {
            model = DiT(registry, config: DiTGradientTests.config)
            store = ParameterStore(registry, seed: 5)
            // Random values everywhere (LoRA up included), so that every path carries gradient.
            var data = TestData(seed: 11)
            for p in registry.parameters { p.value.assign(data.array(p.count, scale: 0.5)) }
            store.allocateGradients { _ in true }
            acts = model.makeActivations(imageTokens: noisy + refs, textTokens: styleRows + textRows)
            image = Tensor(shape: [noisy + refs, 8], values: data.array((noisy + refs) * 8))
            style = Tensor(shape: [styleRows, 16], values: data.array(styleRows * 16))
            text = Tensor(shape: [textRows, 6], values: data.array(textRows * 6))
            pooled = Tensor(shape: [5], values: data.array(5))
            var idValues: [Float] = []
            for _ in 0..<(styleRows + textRows) { idValues += [0, 0, 0] }
            for i in 0..<noisy { idValues += [0, Float(i / 2), Float(i % 2)] }
            for i in 0..<refs { idValues += [0, Float(2 + i / 2), Float(2 + i % 2)] }
            ids = Tensor(shape: [styleRows + textRows + noisy + refs, 3], values: idValues)
            weights = Tensor(shape: [noisy, 8], values: data.array(noisy * 8))
        }

        var inputs: DiT.Inputs {
            DiT.Inputs(imageTokens: image.data, noisyRows: noisy, referenceRows: refs, styleTokens: style.data,
                       styleRows: styleRows, text: text.data, textRows: textRows, pooled: pooled.data,
                       positionIds: ids.data, t: 0.37, guidance: 1)
        }

        func loss() -> Double {
            model.forward(inputs, acts)
            return ElementwiseKernels.dot(noisy * 8, acts.output.data, weights.data)
        }
    }

    @Test func everyParameterMatchesFiniteDifferences() {
        let f = Fixture()
        _ = f.loss()
        f.store.zeroGradients()
        f.model.backward(dOutput: f.weights.data, f.acts)
        var failures: [String] = []
        for p in f.registry.parameters {
            if let e = GradientCheck.probe(p.name, p.value.buffer, count: 6, step: 3e-2, normalize: true, analytic: { p.grad![$0] }, loss: f.loss) { failures.append(e) }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        #expect(f.registry.parameters.count > 50)
    }

    @Test func styleTokenGradientMatchesFiniteDifferences() {
        let f = Fixture()
        _ = f.loss()
        f.store.zeroGradients()
        f.model.backward(dOutput: f.weights.data, f.acts)
        let analytic = Array(f.acts.styleGradient.toArray()[0..<(f.styleRows * 16)])
        let numeric = FiniteDifference.gradient(of: f.style.buffer, loss: f.loss)
        let cmp = Approx.compare(analytic, numeric, .finiteDifferenceFloat32, "style tokens")
        #expect(cmp.passed, "\(cmp)")
    }

    @Test func frozenParametersGetNoGradient() {
        let f = Fixture()
        f.store.allocateGradients { $0.group == .lora }
        _ = f.loss()
        f.model.backward(dOutput: f.weights.data, f.acts)
        #expect(f.registry.parameters.filter { $0.group == .base }.allSatisfy { $0.grad == nil })
        let lora = f.registry.parameters.filter { $0.group == .lora }
        #expect(lora.allSatisfy { $0.grad != nil })
        #expect(f.store.trainableCount == lora.reduce(0) { $0 + $1.count })
        // Gradient layout is reverse build order: the last registered adapter comes first.
        #expect(f.store.trainable.first?.name == lora.last?.name)
    }
}
