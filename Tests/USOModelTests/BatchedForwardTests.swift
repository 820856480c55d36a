import TensorCore
import Testing
import USOModel
import USOTestSupport

/// A packed batch (samples of different token layouts through each layer together) against
/// the same samples one at a time: every v_hat, and every parameter gradient of the DiT and
/// the projector (base, LoRA and projector all trained), agree to float32 rounding.
struct BatchedForwardTests {
    /// (style images, references, text rows): every layout the trainer meets, and prompts of different lengths.
    static let layouts = [(1, 1, 5), (0, 0, 3), (1, 0, 12), (0, 1, 1), (2, 1, 7)]

    @Test(arguments: [1, 3, 5])
    func packedBatchEqualsOneSampleAtATime(samples: Int) throws {
        let tiny = try TinyTrainableModel(seed: 21, dataSeed: 5)
        let c = tiny.config, model = tiny.model, store = tiny.store
        var data = tiny.data
        let side = c.autoencoder.latentSize / 2, tokens = c.noisyTokens, inC = c.dit.inChannels
        let features = 3 * c.styleEncoder.tokens * c.styleEncoder.width
        struct Inputs { let noisy, reference, style, text, pooled, dv: Tensor; let t: Float; let styles, references, textRows: Int }
        let inputs = Self.layouts.prefix(samples).enumerated().map { k, layout in
            Inputs(noisy: Tensor(shape: [tokens * inC], values: data.array(tokens * inC)),
                   reference: Tensor(shape: [tokens * inC], values: data.array(tokens * inC)),
                   style: Tensor(shape: [2 * features], values: data.array(2 * features)),
                   text: Tensor(shape: [c.text.maxTokens * c.text.width], values: data.array(c.text.maxTokens * c.text.width)),
                   pooled: Tensor(shape: [c.text.pooledWidth], values: data.array(c.text.pooledWidth)),
                   dv: Tensor(shape: [tokens * inC], values: data.array(tokens * inC)),
                   t: 0.15 + 0.2 * Float(k), styles: layout.0, references: layout.1, textRows: layout.2)
        }
        func sample(_ x: Inputs) -> USOModel.Sample {
            USOModel.Sample(noisy: x.noisy, grid: (side, side), references: x.references > 0 ? x.reference : nil,
                            referenceCount: x.references, referenceGrid: (side, side),
                            styleFeatures: x.styles > 0 ? x.style : nil, styleCount: x.styles,
                            text: x.text, textRows: x.textRows, pooled: x.pooled, t: x.t, guidance: 3.5)
        }
        // One at a time: gradients accumulate over the samples.
        let single = model.makeActivations()
        store.zeroGradients()
        var outputs: [[Float]] = []
        for x in inputs {
            model.forward(sample(x), single)
            outputs.append(Array(UnsafeBufferPointer(start: single.output(0), count: tokens * inC)))
            model.backward(dOutput: x.dv.data, single)
        }
        let oneByOne = Array(UnsafeBufferPointer(start: store.gradients.base, count: store.gradients.count))

        // Packed: one forward and one backward for all.
        let packed = model.makeActivations(samples: samples)
        store.zeroGradients()
        model.forward(batch: inputs.map(sample), packed)
        let dv = Tensor(zeros: [samples * tokens * inC])
        for (b, x) in inputs.enumerated() {
            let got = Array(UnsafeBufferPointer(start: packed.output(b), count: tokens * inC))
            let worst = zip(got, outputs[b]).map { abs($0 - $1) }.max() ?? 0
            let scale = outputs[b].map(abs).max() ?? 1
            #expect(worst <= 1e-5 * max(scale, 1), "sample \(b) (layout \(Self.layouts[b])): v_hat differs by \(worst) (max |v| \(scale))")
            (dv.data + packed.dit.outputOffset(b) * inC).update(from: x.dv.data, count: tokens * inC)
        }
        model.backward(dOutput: dv.data, packed)
        var offset = 0
        for p in store.trainable {
            let a = oneByOne[offset..<(offset + p.count)], b = UnsafeBufferPointer(start: store.gradients.base + offset, count: p.count)
            let scale = a.map(abs).max() ?? 0
            let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-5 * scale + 1e-7, "\(p.name): packed gradient differs by \(worst) (max |g| \(scale))")
            offset += p.count
        }
        #expect(store.trainable.count > 100, "only \(store.trainable.count) trainable tensors compared")
    }
}
