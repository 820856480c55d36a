import TensorCore
import Testing
@testable import USOModel
import USOTestSupport

/// Each layer's backward on its own against central finite differences (GradientCheck:
/// float32 tolerance, and every probe informative), inputs and parameters alike: Linear with
/// a LoRA on part of its outputs, the attention core, RoPE, the MLP embedder, the patch
/// embedding, the double- and single-stream blocks over two packed samples, the final layer
/// and the autoencoder's encoder. (The CSD model under the supervised-contrastive loss is
/// TrainingTests' CSDGradientTests.) Loss: L = sum(w * output), w fixed, in Double.
struct LayerGradientTests {
    static let config = DiTGradientTests.config   // D 16, 2 heads of 8, RoPE axes [2, 2, 4]

    /// Every parameter of `registry` random (LoRA up included: a zero one passes no gradient
    /// to down) and every one given a gradient buffer.
    static func randomStore(_ registry: ParameterRegistry, seed: UInt64, scale: Float = 0.5) -> ParameterStore {
        let store = ParameterStore(registry, seed: seed)
        var data = TestData(seed: seed)
        for p in registry.parameters { p.value.assign(data.array(p.count, scale: scale)) }
        store.allocateGradients { _ in true }
        return store
    }

    /// Probes every parameter of `registry` (analytic gradients already in place).
    static func probeParameters(_ registry: ParameterRegistry, count: Int = 6, loss: () -> Double) -> [String] {
        registry.parameters.compactMap { p in
            GradientCheck.probe(p.name, p.value.buffer, count: count, analytic: { p.grad![$0] }, loss: loss)
        }
    }

    static func dot(_ n: Int, _ a: UnsafePointer<Float>, _ b: Tensor) -> Double { ElementwiseKernels.dot(n, a, b.data) }

    @Test func linearWithLoRAOnPartOfItsOutputs() {
        let r = ParameterRegistry()
        let layer = Linear(r, "layer", in: 6, out: 8, group: .base)
        layer.attach(LoRA(r, "layer.lora", in: 6, out: 4, rank: 2, outputOffset: 3))
        let store = Self.randomStore(r, seed: 1)
        var data = TestData(seed: 2)
        let rows = 3
        let x = Tensor(shape: [rows, 6], values: data.array(rows * 6)), w = Tensor(shape: [rows, 8], values: data.array(rows * 8, scale: 2))
        let y = Tensor(zeros: [rows, 8]), cache = layer.makeCache(rows: rows)
        func loss() -> Double {
            layer.forward(x.data, rows: rows, y.data, cache: cache)
            return Self.dot(rows * 8, y.data, w)
        }
        _ = loss()
        store.zeroGradients()
        let dx = Tensor(zeros: [rows, 6])
        layer.backward(x.data, rows: rows, dy: w.data, dx: dx.data, cache: cache)
        var failures = Self.probeParameters(r, loss: loss)
        failures += [GradientCheck.probe("x", x.buffer, count: 18, analytic: { dx[$0] }, loss: loss)].compactMap { $0 }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        #expect(r.parameters.count == 4, "weight, bias, LoRA down and up")
    }

    @Test func attentionCoreToQueriesKeysAndValues() {
        let core = AttentionCore(heads: 2, headDim: 4)
        let L = 5, w = 8
        var data = TestData(seed: 3)
        let q = Tensor(shape: [L, w], values: data.array(L * w, scale: 1.5)), k = Tensor(shape: [L, w], values: data.array(L * w, scale: 1.5))
        let v = Tensor(shape: [L, w], values: data.array(L * w)), weights = Tensor(shape: [L, w], values: data.array(L * w, scale: 2))
        let o = Tensor(zeros: [L, w]), acts = core.makeActivations(capacity: L)
        func loss() -> Double {
            core.forward(q: q.data, k: k.data, v: v.data, tokens: L, o: o.data, acts)
            return Self.dot(L * w, o.data, weights)
        }
        _ = loss()
        let dq = Tensor(zeros: [L, w]), dk = Tensor(zeros: [L, w]), dv = Tensor(zeros: [L, w])
        core.backward(q: q.data, k: k.data, v: v.data, tokens: L, dO: weights.data, dq: dq.data, dk: dk.data, dv: dv.data, acts)
        let failures = [GradientCheck.probe("q", q.buffer, count: 16, analytic: { dq[$0] }, loss: loss),
                        GradientCheck.probe("k", k.buffer, count: 16, analytic: { dk[$0] }, loss: loss),
                        GradientCheck.probe("v", v.buffer, count: 16, analytic: { dv[$0] }, loss: loss)].compactMap { $0 }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    /// RoPE's backward is its inverse rotation applied to the output gradient.
    @Test func ropeBackwardIsTheInverseRotation() {
        let rows = 4, heads = 2, d = 16
        let table = RotaryTable(axesDims: [2, 2, 4], theta: 10_000, capacity: rows)
        let ids = Tensor(shape: [rows, 3], values: [0, 0, 0, 0, 1, 2, 1, 3, 0, 2, 5, 7])
        table.build(ids: ids.data, count: rows)
        var data = TestData(seed: 4)
        let x = Tensor(shape: [rows, d], values: data.array(rows * d)), w = Tensor(shape: [rows, d], values: data.array(rows * d, scale: 2))
        let y = Tensor(zeros: [rows, d])
        func loss() -> Double {
            y.copy(from: x)
            table.apply(y.data, rows: rows, heads: heads, stride: d)
            return Self.dot(rows * d, y.data, w)
        }
        let dx = Tensor(zeros: [rows, d])
        dx.copy(from: w)
        table.apply(dx.data, rows: rows, heads: heads, stride: d, inverse: true)
        let failure = GradientCheck.probe("x", x.buffer, count: 32, analytic: { dx[$0] }, loss: loss)
        #expect(failure == nil, "\(failure ?? "")")
    }

    @Test func mlpEmbedderToItsWeights() {
        let r = ParameterRegistry()
        let embedder = MLPEmbedder(r, "time_in", in: 6, hidden: 8, group: .base)
        let store = Self.randomStore(r, seed: 5)
        var data = TestData(seed: 6)
        let rows = 2
        let x = Tensor(shape: [rows, 6], values: data.array(rows * 6, scale: 2)), w = Tensor(shape: [rows, 8], values: data.array(rows * 8, scale: 2))
        let y = Tensor(zeros: [rows, 8]), acts = embedder.makeActivations(rows: rows)
        func loss() -> Double {
            y.fill(0)
            embedder.forwardAccumulate(x.data, rows: rows, into: y.data, acts)
            return Self.dot(rows * 8, y.data, w)
        }
        _ = loss()
        store.zeroGradients()
        embedder.backward(dy: w.data, acts)
        let failures = Self.probeParameters(r, loss: loss)
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    /// Patch extraction and a Linear over the patches (the ViT's and the autoencoder's patch
    /// embedding), backward through the scatter to the image.
    @Test func patchEmbeddingToImageAndWeights() {
        let r = ParameterRegistry()
        let s = 8, p = 4, grid = (s / p) * (s / p), width = 3 * p * p
        let embed = Linear(r, "patch_embed", in: width, out: 5, group: .csd)
        let store = Self.randomStore(r, seed: 7, scale: 0.3)
        var data = TestData(seed: 8)
        let image = Tensor(shape: [3, s, s], values: data.array(3 * s * s)), w = Tensor(shape: [grid, 5], values: data.array(grid * 5, scale: 2))
        let rows = Tensor(zeros: [grid, width]), out = Tensor(zeros: [grid, 5])
        func loss() -> Double {
            Patches.extract(image.data, size: s, patch: p, into: rows.data)
            embed.forward(rows.data, rows: grid, out.data, cache: nil)
            return Self.dot(grid * 5, out.data, w)
        }
        _ = loss()
        store.zeroGradients()
        let dRows = Tensor(zeros: [grid, width]), dImage = Tensor(zeros: [3, s, s])
        embed.backward(rows.data, rows: grid, dy: w.data, dx: dRows.data, overwrite: true, cache: nil)
        Patches.scatter(dRows.data, size: s, patch: p, into: dImage.data, accumulate: true)
        var failures = Self.probeParameters(r, loss: loss)
        failures += [GradientCheck.probe("image", image.buffer, count: 32, analytic: { dImage[$0] }, loss: loss)].compactMap { $0 }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    /// Two packed samples: (text rows, image rows) = (2, 3) and (1, 4); RoPE ids per sample [text; image].
    struct Packing {
        let text = [2, 1], image = [3, 4]
        var textSegments = Segments(capacity: 2), imageSegments = Segments(capacity: 2), joint = Segments(capacity: 2)
        let rope: RotaryTable
        init() {
            textSegments.set(text)
            imageSegments.set(image)
            joint.set(zip(text, image).map { $0 + $1 })
            rope = RotaryTable(axesDims: [2, 2, 4], theta: 10_000, capacity: joint.total)
            for b in 0..<2 {
                var ids: [Float] = []
                for _ in 0..<text[b] { ids += [0, 0, 0] }
                for i in 0..<image[b] { ids += [0, Float(i / 2), Float(i % 2 + b)] }
                let t = Tensor(shape: [joint.counts[b], 3], values: ids)
                rope.setRows(ids: t.data, count: joint.counts[b], at: joint.offsets[b])
            }
            rope.setCount(joint.total)
        }
    }

    @Test func doubleStreamBlockOverTwoPackedSamples() {
        let r = ParameterRegistry()
        let block = DoubleStreamBlock(r, index: 0, config: Self.config)
        let store = Self.randomStore(r, seed: 9)
        let pack = Packing(), d = 16
        let ni = pack.imageSegments.total, nt = pack.textSegments.total
        var data = TestData(seed: 10)
        let img = Tensor(shape: [ni, d], values: data.array(ni * d)), txt = Tensor(shape: [nt, d], values: data.array(nt * d))
        let sv = Tensor(shape: [2, d], values: data.array(2 * d))
        let wImg = Tensor(shape: [ni, d], values: data.array(ni * d, scale: 2)), wTxt = Tensor(shape: [nt, d], values: data.array(nt * d, scale: 2))
        let x = Tensor(zeros: [ni, d]), y = Tensor(zeros: [nt, d])
        let acts = block.makeActivations(imageCapacity: 4, textCapacity: 2, samples: 2)
        func loss() -> Double {
            x.copy(from: img)
            y.copy(from: txt)
            block.forward(img: x.data, imageSegments: pack.imageSegments, txt: y.data, textSegments: pack.textSegments, sv: sv.data,
                          rope: pack.rope, acts)
            return Self.dot(ni * d, x.data, wImg) + Self.dot(nt * d, y.data, wTxt)
        }
        _ = loss()
        store.zeroGradients()
        let dImg = Tensor(zeros: [ni, d]), dTxt = Tensor(zeros: [nt, d]), dsv = Tensor(zeros: [2, d])
        dImg.copy(from: wImg)
        dTxt.copy(from: wTxt)
        block.backward(dImg: dImg.data, dTxt: dTxt.data, sv: sv.data, dsv: dsv.data, rope: pack.rope, acts)
        var failures = Self.probeParameters(r, count: 4, loss: loss)
        failures += [GradientCheck.probe("img", img.buffer, count: 24, analytic: { dImg[$0] }, loss: loss),
                     GradientCheck.probe("txt", txt.buffer, count: 24, analytic: { dTxt[$0] }, loss: loss),
                     GradientCheck.probe("silu(vec)", sv.buffer, count: 16, analytic: { dsv[$0] }, loss: loss)].compactMap { $0 }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    @Test func singleStreamBlockOverTwoPackedSamples() {
        let r = ParameterRegistry()
        let block = SingleStreamBlock(r, index: 0, config: Self.config)
        let store = Self.randomStore(r, seed: 11)
        let pack = Packing(), d = 16, n = pack.joint.total
        var data = TestData(seed: 12)
        let input = Tensor(shape: [n, d], values: data.array(n * d)), sv = Tensor(shape: [2, d], values: data.array(2 * d))
        let w = Tensor(shape: [n, d], values: data.array(n * d, scale: 2)), x = Tensor(zeros: [n, d])
        let acts = block.makeActivations(capacity: 5, samples: 2)
        func loss() -> Double {
            x.copy(from: input)
            block.forward(x.data, segments: pack.joint, sv: sv.data, rope: pack.rope, acts)
            return Self.dot(n * d, x.data, w)
        }
        _ = loss()
        store.zeroGradients()
        let dx = Tensor(zeros: [n, d]), dsv = Tensor(zeros: [2, d])
        dx.copy(from: w)
        block.backward(dx.data, sv: sv.data, dsv: dsv.data, rope: pack.rope, acts)
        var failures = Self.probeParameters(r, count: 4, loss: loss)
        failures += [GradientCheck.probe("x", input.buffer, count: 24, analytic: { dx[$0] }, loss: loss),
                     GradientCheck.probe("silu(vec)", sv.buffer, count: 16, analytic: { dsv[$0] }, loss: loss)].compactMap { $0 }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    /// The final layer reads each sample's noisy rows from inside its joint rows (rowOffsets).
    @Test func finalLayerOverTwoPackedSamples() {
        let r = ParameterRegistry()
        let final = FinalLayer(r, config: Self.config, zeroInit: false)
        let store = Self.randomStore(r, seed: 13)
        let d = 16, out = Self.config.inChannels
        var seg = Segments(capacity: 2)
        seg.set([3, 2])
        let rowOffsets = [1, 6]   // sample 0's noisy rows at 1..<4, sample 1's at 6..<8 of 8 joint rows
        var data = TestData(seed: 14)
        let x = Tensor(shape: [8, d], values: data.array(8 * d)), sv = Tensor(shape: [2, d], values: data.array(2 * d))
        let w = Tensor(shape: [5, out], values: data.array(5 * out, scale: 2)), y = Tensor(zeros: [5, out])
        let acts = final.makeActivations(capacity: 3, samples: 2)
        func loss() -> Double {
            final.forward(x.data, rowOffsets: rowOffsets, segments: seg, sv: sv.data, out: y.data, acts)
            return Self.dot(5 * out, y.data, w)
        }
        _ = loss()
        store.zeroGradients()
        let dx = Tensor(zeros: [8, d]), dsv = Tensor(zeros: [2, d])
        final.backward(dOut: w.data, sv: sv.data, dsv: dsv.data, dx: dx.data, rowOffsets: rowOffsets, acts)
        var failures = Self.probeParameters(r, loss: loss)
        failures += [GradientCheck.probe("x", x.buffer, count: 48, analytic: { dx[$0] }, loss: loss),
                     GradientCheck.probe("silu(vec)", sv.buffer, count: 16, analytic: { dsv[$0] }, loss: loss)].compactMap { $0 }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        #expect((0..<d).allSatisfy { dx[$0] == 0 } && (4 * d..<6 * d).allSatisfy { dx[$0] == 0 }, "rows outside the noisy ones get nothing")
    }

    @Test func autoencoderEncodeBackwardToItsWeights() {
        let r = ParameterRegistry()
        let ae = Autoencoder(r, config: AutoencoderConfig(imageSize: 8, factor: 4, latentChannels: 3, decoderHidden: 6, scale: 1.7, shift: 0.2))
        let store = Self.randomStore(r, seed: 15)
        var data = TestData(seed: 16)
        let image = Tensor(shape: [3, 8, 8], values: data.array(192)), latent = Tensor(zeros: [3, 2, 2])
        let w = Tensor(shape: [3, 2, 2], values: data.array(12, scale: 2))
        let acts = ae.makeActivations()
        func loss() -> Double {
            ae.encode(image: image.data, latent: latent.data, acts)
            return Self.dot(12, latent.data, w)
        }
        _ = loss()
        store.zeroGradients()
        ae.encodeBackward(dLatent: w.data, image: image.data, acts)
        let encoder = r.parameters.filter { $0.name.hasPrefix("autoencoder.encoder.") }
        let failures = encoder.compactMap { p in
            GradientCheck.probe(p.name, p.value.buffer, count: 8, analytic: { p.grad![$0] }, loss: loss)
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        #expect(encoder.count == 2, "\(r.parameters.map(\.name))")
    }
}
