import TensorCore
import Testing
import USOModel
import USOTestSupport

/// The blocks' backward buffers shared by every block of a kind (what training uses) against
/// each block with its own: over steps of different token layouts (so a value a block left
/// in the shared buffers would show in the next block or step), every v_hat and every
/// parameter gradient is the same bit for bit.
struct SharedScratchTests {
    @Test func sharedBackwardBuffersChangeNoGradient() throws {
        let tiny = try TinyTrainableModel(seed: 31, dataSeed: 8)
        let c = tiny.config, model = tiny.model, store = tiny.store
        var data = tiny.data
        let side = c.autoencoder.latentSize / 2, tokens = c.noisyTokens, inC = c.dit.inChannels
        let features = 3 * c.styleEncoder.tokens * c.styleEncoder.width
        // (style images, references, text rows) per step, two samples packed each.
        let steps = [[(1, 1, 5), (0, 0, 3)], [(2, 1, 7), (1, 0, 12)], [(0, 1, 1), (1, 1, 9)]]
        let batches = steps.map { layouts in
            layouts.map { layout in
                USOModel.Sample(noisy: Tensor(shape: [tokens * inC], values: data.array(tokens * inC)), grid: (side, side),
                                references: layout.1 > 0 ? Tensor(shape: [tokens * inC], values: data.array(tokens * inC)) : nil,
                                referenceCount: layout.1, referenceGrid: (side, side),
                                styleFeatures: layout.0 > 0 ? Tensor(shape: [2 * features], values: data.array(2 * features)) : nil,
                                styleCount: layout.0,
                                text: Tensor(shape: [c.text.maxTokens * c.text.width], values: data.array(c.text.maxTokens * c.text.width)),
                                textRows: layout.2,
                                pooled: Tensor(shape: [c.text.pooledWidth], values: data.array(c.text.pooledWidth)), t: 0.3, guidance: 3.5)
            }
        }
        let dv = Tensor(shape: [2 * tokens * inC], values: data.array(2 * tokens * inC))

        /// Per step: the outputs, then the gradients after its backward.
        func run(shared: Bool) -> [[Float]] {
            let acts = model.makeActivations(samples: 2, sharedScratch: shared)
            var seen: [[Float]] = []
            for batch in batches {
                store.zeroGradients()
                model.forward(batch: batch, acts)
                seen.append(Array(UnsafeBufferPointer(start: acts.output.data, count: acts.output.count)))
                model.backward(dOutput: dv.data, acts)
                seen.append(Array(UnsafeBufferPointer(start: store.gradients.base, count: store.gradients.count)))
            }
            return seen
        }
        let own = run(shared: false), shared = run(shared: true)
        for (i, (a, b)) in zip(own, shared).enumerated() {
            let differing = zip(a, b).filter { $0.0.bitPattern != $0.1.bitPattern }.count
            let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            #expect(differing == 0, "step \(i / 2), \(i % 2 == 0 ? "v_hat" : "gradients"): \(differing) of \(a.count) values differ, by up to \(worst)")
        }
        #expect(own.count == 6 && own[1].contains { $0 != 0 }, "no gradient was compared")
    }
}
