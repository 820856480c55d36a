import TensorCore
import Testing
import USOModel
import USOTestSupport

/// The encoders' and the projector's backward against central finite differences
/// (Tolerance.finiteDifferenceFloat32), every parameter tensor probed.
struct EncoderGradientTests {
    /// Randomises every parameter (so all paths carry gradient) and gives all gradient buffers.
    static func randomised(_ r: ParameterRegistry, seed: UInt64) -> ParameterStore {
        let store = ParameterStore(r, seed: seed)
        var data = TestData(seed: seed)
        for p in r.parameters { p.value.assign(data.array(p.count, scale: 0.5)) }
        store.allocateGradients { _ in true }
        return store
    }

    static func checkParameters(_ r: ParameterRegistry, loss: () -> Double) -> [String] {
        var failures: [String] = []
        for p in r.parameters {
            // A key bias shifts a query's scores alike, which softmax ignores: zero by structure.
            if p.name.hasSuffix("k_proj.bias") {
                if let g = (0..<p.count).map({ p.grad![$0] }).first(where: { abs($0) >= 1e-7 }) {
                    failures.append("\(p.name): gradient \(g), expected zero (softmax is invariant to a key bias)")
                }
                continue
            }
            if let f = GradientCheck.probe(p.name, p.value.buffer, count: 5, step: 3e-2, normalize: true, analytic: { p.grad![$0] }, loss: loss) { failures.append(f) }
        }
        return failures
    }

    @Test func visionTransformerPooledFeatureToWeightsAndImage() {
        let r = ParameterRegistry()
        let vit = VisionTransformer(r, prefix: "csd.backbone", config: ViTConfig(imageSize: 8, patchSize: 4, width: 8, depth: 2,
                                                                                 heads: 2, taps: [1, 0, 0]), group: .csd)
        let store = Self.randomised(r, seed: 3)
        let a = vit.makeActivations()
        var data = TestData(seed: 4)
        let image = Tensor(shape: [3, 8, 8], values: data.array(192))
        let w = Tensor(shape: [8], values: data.array(8))
        func loss() -> Double {
            vit.forward(image: image.data, a)
            return ElementwiseKernels.dot(8, a.pooled.data, w.data)
        }
        _ = loss()
        store.zeroGradients()
        let dImage = Tensor(zeros: [3, 8, 8])
        vit.backward(dPooled: w.data, dImage: dImage.data, a)
        let failures = Self.checkParameters(r, loss: loss)
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        let numeric = FiniteDifference.gradient(of: image.buffer, indices: FiniteDifference.sampleIndices(192), loss: loss)
        let cmp = Approx.compare(FiniteDifference.sampleIndices(192).map { dImage[$0] }, numeric, .finiteDifferenceFloat32, "image")
        #expect(cmp.passed, "\(cmp)")
    }

    @Test func projectorToItsWeights() {
        let r = ParameterRegistry()
        let proj = HierarchicalProjector(r, encoderTokens: 6, outTokens: 3, encoderWidth: 5, modelWidth: 4)
        let store = Self.randomised(r, seed: 5)
        let a = proj.makeActivations(images: 2)
        var data = TestData(seed: 6)
        let features = Tensor(shape: [2, 3, 6, 5], values: data.array(180))
        let out = Tensor(zeros: [18, 4]), w = Tensor(shape: [18, 4], values: data.array(72))
        func loss() -> Double {
            proj.forward(features: features.data, images: 2, out: out.data, a)
            return ElementwiseKernels.dot(72, out.data, w.data)
        }
        _ = loss()
        store.zeroGradients()
        proj.backward(dOut: w.data, a)
        let failures = Self.checkParameters(r, loss: loss)
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        #expect(proj.tokensPerImage == 9)
    }

    @Test func autoencoderDecodeBackwardToLatentAndWeights() {
        let r = ParameterRegistry()
        let ae = Autoencoder(r, config: AutoencoderConfig(imageSize: 8, factor: 2, latentChannels: 3, decoderHidden: 6,
                                                          scale: 0.7, shift: 0.1))
        let store = Self.randomised(r, seed: 7)
        let a = ae.makeActivations()
        var data = TestData(seed: 8)
        let latent = Tensor(shape: [3, 4, 4], values: data.array(48))
        let image = Tensor(zeros: [3, 8, 8]), w = Tensor(shape: [3, 8, 8], values: data.array(192))
        func loss() -> Double {
            ae.decode(latent: latent.data, image: image.data, a)
            return ElementwiseKernels.dot(192, image.data, w.data)
        }
        _ = loss()
        store.zeroGradients()
        let dLatent = Tensor(zeros: [3, 4, 4])
        ae.decodeBackward(dImage: w.data, dLatent: dLatent.data, a)
        let numeric = FiniteDifference.gradient(of: latent.buffer, loss: loss)
        let cmp = Approx.compare(dLatent.toArray(), numeric, .finiteDifferenceFloat32, "dLatent")
        #expect(cmp.passed, "\(cmp)")
        let decoderFailures = Self.checkParameters(r, loss: loss).filter { $0.contains("decoder") }
        #expect(decoderFailures.isEmpty, "\(decoderFailures)")
    }

    @Test func packingIsFluxOrderAndInvertible() {
        // latent (C=2, 4, 4) with value = c*100 + y*10 + x
        var values: [Float] = []
        for c in 0..<2 { for y in 0..<4 { for x in 0..<4 { values.append(Float(c * 100 + y * 10 + x)) } } }
        let latent = Tensor(shape: [2, 4, 4], values: values)
        let tokens = Tensor(zeros: [4, 8])
        Autoencoder.pack(latent.data, channels: 2, size: 4, into: tokens.data)
        // Token (0, 1): rows 0-1, cols 2-3; values in (c, ph, pw) order.
        #expect(Array(tokens.toArray()[8..<16]) == [2, 3, 12, 13, 102, 103, 112, 113])
        let back = Tensor(zeros: [2, 4, 4])
        Autoencoder.unpack(tokens.data, channels: 2, size: 4, into: back.data)
        #expect(back.toArray() == values)
    }

    @Test func textEncoderTokenizesAndPools() throws {
        let model = try USOModel(config: ModelPreset.tiny.config)
        model.allocate(seed: 1)
        let enc = model.textEncoder
        #expect(enc.tokenize("A photo of a RED robot, in watercolor style!") ==
                enc.vocabulary.ids(for: "a photo of a red robot in watercolor style") + [Vocabulary.endID])
        #expect(enc.tokenize("") == [Vocabulary.endID])
        #expect(enc.vocabulary.ids(for: "zyzzyva") == [Vocabulary.unknownID])
        #expect(enc.tokenize(String(repeating: "red ", count: 50)).count == enc.config.maxTokens)
        let states = Tensor(zeros: [enc.config.maxTokens, enc.config.width]), pooled = Tensor(zeros: [enc.config.pooledWidth])
        let n = enc.encode("a red robot", states: states.data, pooled: pooled.data)
        #expect(n == 4)
        let states2 = Tensor(zeros: [enc.config.maxTokens, enc.config.width]), pooled2 = Tensor(zeros: [enc.config.pooledWidth])
        enc.encode("a blue robot", states: states2.data, pooled: pooled2.data)
        #expect(pooled.toArray() != pooled2.toArray())
        #expect(Array(states.toArray()[0..<24]) == Array(states2.toArray()[0..<24]), "same first word, same first state")
    }
}
