import TensorCore
import Testing
import USOModel
import USOTestSupport

/// The assembled model at preset tiny: UnoPE positions, conditions present or absent, and
/// the gradients of LoRA and projector (USO's trainable set) against finite differences.
struct USOModelTests {
    @Test func positionIdsFollowUnoPE() {
        var ids = [Float](repeating: -1, count: 3 * 15)
        let n = USOModel.writePositionIds(styleRows: 2, textRows: 1, grid: (2, 2), referenceCount: 2, referenceGrid: (1, 2), into: &ids)
        #expect(n == 11)
        let rows = stride(from: 0, to: 3 * n, by: 3).map { [Int(ids[$0]), Int(ids[$0 + 1]), Int(ids[$0 + 2])] }
        #expect(rows == [[0, 0, 0], [0, 0, 0], [0, 0, 0],                      // style, style, text
                         [0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1],           // noisy 2x2
                         [0, 2, 2], [0, 2, 3],                                  // reference 1 at (+2, +2)
                         [0, 3, 4], [0, 3, 5]])                                 // reference 2 at (+3, +4)
    }

    final class Fixture {
        let model: USOModel
        let store: ParameterStore
        let acts: USOModel.Activations
        let noisy, reference, features, text, pooled, weights: Tensor
        let config = ModelPreset.tiny.config

        init() throws {
            model = try USOModel(config: config)
            store = model.allocate(seed: 9)
            var data = TestData(seed: 13)
            // LoRA up starts at zero; give it values so that every adapter path is exercised.
            for p in model.registry.parameters(in: .lora) { p.value.assign(data.array(p.count, scale: 0.3)) }
            store.allocateGradients { $0.group == .lora || $0.group == .projector }
            acts = model.makeActivations()
            let tokens = config.noisyTokens, inC = config.dit.inChannels
            noisy = Tensor(shape: [tokens, inC], values: data.array(tokens * inC))
            reference = Tensor(shape: [tokens, inC], values: data.array(tokens * inC))
            let fcount = 2 * 3 * config.styleEncoder.tokens * config.styleEncoder.width
            features = Tensor(shape: [fcount], values: data.array(fcount))
            text = Tensor(shape: [5, config.text.width], values: data.array(5 * config.text.width))
            pooled = Tensor(shape: [config.text.pooledWidth], values: data.array(config.text.pooledWidth))
            weights = Tensor(shape: [tokens, inC], values: data.array(tokens * inC))
        }

        func sample(styles: Int, references: Int) -> USOModel.Sample {
            let side = config.autoencoder.latentSize / 2
            return USOModel.Sample(noisy: noisy, grid: (side, side), references: references > 0 ? reference : nil,
                                   referenceCount: references, referenceGrid: (side, side),
                                   styleFeatures: styles > 0 ? features : nil, styleCount: styles,
                                   text: text, textRows: 5, pooled: pooled, t: 0.6)
        }

        func loss(_ s: USOModel.Sample) -> Double {
            model.forward(s, acts)
            return ElementwiseKernels.dot(weights.count, acts.output.data, weights.data)
        }
    }

    @Test(arguments: [(0, 0), (1, 0), (0, 1), (1, 1), (2, 1)])
    func loraAndProjectorGradientsMatchFiniteDifferences(styles: Int, references: Int) throws {
        let f = try Fixture()
        let s = f.sample(styles: styles, references: references)
        _ = f.loss(s)
        f.store.zeroGradients()
        f.model.backward(dOutput: f.weights.data, f.acts)
        var failures: [String] = []
        for p in f.store.trainable {
            let idx = FiniteDifference.sampleIndices(p.count, count: 3)
            let numeric = FiniteDifference.gradient(of: p.value.buffer, indices: idx) { f.loss(s) }
            let cmp = Approx.compare(idx.map { p.grad![$0] }, numeric, .finiteDifferenceFloat32, p.name)
            if !cmp.passed { failures.append("\(cmp)") }
        }
        #expect(failures.isEmpty, "styles \(styles), references \(references):\n\(failures.joined(separator: "\n"))")
        // Without style images the projector gets no gradient.
        if styles == 0 {
            #expect(f.model.registry.parameters(in: .projector).allSatisfy { $0.grad!.toArray().allSatisfy { $0 == 0 } })
        }
    }

    @Test func conditionsChangeThePrediction() throws {
        let f = try Fixture()
        _ = f.loss(f.sample(styles: 0, references: 0))
        let textOnly = f.acts.output.toArray()
        _ = f.loss(f.sample(styles: 1, references: 1))
        let both = f.acts.output.toArray()
        _ = f.loss(f.sample(styles: 0, references: 0))
        #expect(f.acts.output.toArray() == textOnly, "the same sample gives the same prediction")
        #expect(both != textOnly)
        #expect(textOnly.allSatisfy { $0.isFinite })
    }
}
