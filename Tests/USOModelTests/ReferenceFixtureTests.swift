import Foundation
import SafeTensors
import TensorCore
import Testing
import USOModel
import USOTestSupport

/// The model against the independent JAX reference (Scripts/reference/uso_reference.py,
/// float64), element by element: every sample's v_hat, the loss, and every LoRA and
/// projector gradient, from the committed fixture (Scripts/make_model_fixture.sh).
///
/// Tolerances: v_hat and the loss use Tolerance.float32VersusFloat64. A gradient tensor
/// is held to 1e-4 of its own largest magnitude (absolute) plus 1e-4 relative: its small
/// elements are sums of cancelling terms whose float32 error is set by the large ones.
struct ReferenceFixtureTests {
    static var folder: URL { Bundle.module.url(forResource: "Fixtures/tiny", withExtension: nil)! }

    struct Spec: Decodable {
        let name: String
        let styleCount: Int
        let referenceCount: Int
        let prompt: String
    }

    @Test func swiftMatchesTheReferenceElementwise() throws {
        let dir = Self.folder.path
        let config = try JSONDecoder().decode(ModelConfig.self, from: Data(contentsOf: Self.folder.appendingPathComponent("config.json")))
        #expect(config == ModelPreset.tiny.config, "the fixture was made at another tiny preset: rerun Scripts/make_model_fixture.sh")
        let model = try USOModel(config: config)
        let store = model.allocate(seed: 0)
        try ModelWeights.loadAll(model.registry, from: dir + "/weights", groups: [.base, .lora, .projector])
        store.allocateGradients { $0.group == .lora || $0.group == .projector }
        store.zeroGradients()

        let inputs = try SafeTensorsFile(path: dir + "/inputs.safetensors")
        let expected = try SafeTensorsFile(path: dir + "/reference.safetensors")
        let specs = try JSONDecoder().decode([Spec].self, from: Data(inputs.metadata["samples"]!.utf8))
        #expect(specs.map(\.name) == ["subject_style", "style", "subject", "text", "multi_style"])
        func tensor(_ f: SafeTensorsFile, _ name: String) throws -> Tensor {
            Tensor(shape: try f.entry(name).shape, values: try f.read(name))
        }

        let acts = model.makeActivations()
        let side = config.autoencoder.latentSize / 2, tokens = config.noisyTokens, inC = config.dit.inChannels
        var loss = 0.0
        var failures: [String] = []
        for (b, spec) in specs.enumerated() {
            let p = "sample\(b)."
            let noisy = try tensor(inputs, p + "noisy"), target = try tensor(inputs, p + "target")
            let text = try tensor(inputs, p + "text"), pooled = try tensor(inputs, p + "pooled")
            let reference = spec.referenceCount > 0 ? try tensor(inputs, p + "reference") : nil
            let features = spec.styleCount > 0 ? try tensor(inputs, p + "style_features") : nil
            let t = try inputs.read(p + "t")[0]
            let sample = USOModel.Sample(noisy: noisy, grid: (side, side), references: reference,
                                         referenceCount: spec.referenceCount, referenceGrid: (side, side),
                                         styleFeatures: features, styleCount: spec.styleCount,
                                         text: text, textRows: text.shape[0], pooled: pooled, t: t)
            model.forward(sample, acts)
            let idRows = try inputs.entry(p + "position_ids").shape[0]
            #expect(Array(acts.positionIds.toArray()[0..<(idRows * 3)]) == (try inputs.read(p + "position_ids")))
            let vhat = Array(acts.output.toArray()[0..<(tokens * inC)])
            let cmp = Approx.compare(vhat, try expected.read(p + "v_hat"), .float32VersusFloat64, "\(spec.name) v_hat")
            if !cmp.passed { failures.append("\(cmp)") }
            let dv = Tensor(zeros: [tokens, inC])
            var sq = 0.0
            for i in 0..<dv.count {
                let e = vhat[i] - target[i]
                sq += Double(e) * Double(e)
                dv[i] = 2 * e / Float(tokens * inC * specs.count)
            }
            loss += sq / Double(tokens * inC * specs.count)
            model.backward(dOutput: dv.data, acts)
        }
        let lossCmp = Approx.compare([loss], try expected.read("loss"), .float32VersusFloat64, "loss")
        if !lossCmp.passed { failures.append("\(lossCmp)") }
        var checked = 0
        for p in store.trainable {
            let want = try expected.read("grad." + p.name)
            let scale = want.map { abs(Double($0)) }.max() ?? 0
            let cmp = Approx.compare(p.grad!.toArray(), want, Tolerance(absolute: 1e-4 * scale + 1e-12, relative: 1e-4), p.name)
            if !cmp.passed { failures.append("\(cmp)") }
            checked += 1
        }
        #expect(checked == store.trainable.count && checked == 4 * 2 * 2 + 4 * 2 + 18, "checked \(checked) gradient tensors")
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    @Test func frozenEncodersMatchTheReference() throws {
        let dir = Self.folder.path
        let c = ModelPreset.tiny.config
        let model = try USOModel(config: c)
        model.allocate(seed: 0)
        try ModelWeights.loadAll(model.registry, from: dir + "/weights", groups: [.styleEncoder, .autoencoder, .textEncoder])
        let inputs = try SafeTensorsFile(path: dir + "/inputs.safetensors")
        let expected = try SafeTensorsFile(path: dir + "/reference.safetensors")
        let specs = try JSONDecoder().decode([Spec].self, from: Data(inputs.metadata["samples"]!.utf8))
        var failures: [String] = []
        func check(_ got: [Float], _ name: String, gradient: Bool = false) throws {
            let want = try expected.read(name)
            let scale = want.map { abs(Double($0)) }.max() ?? 0
            let tol = gradient ? Tolerance(absolute: 1e-4 * scale + 1e-12, relative: 1e-4) : .float32VersusFloat64
            let cmp = Approx.compare(got, want, tol, name)
            if !cmp.passed { failures.append("\(cmp)") }
        }
        // Style encoder taps, per style image of each sample.
        let vit = model.styleEncoder.makeActivations()
        let n = c.styleEncoder.tokens * c.styleEncoder.width
        for (b, spec) in specs.enumerated() where spec.styleCount > 0 {
            let images = try inputs.read("sample\(b).style_images")
            var taps: [Float] = []
            for k in 0..<spec.styleCount {
                let count = images.count / spec.styleCount
                let image = Tensor(shape: [count], values: Array(images[(k * count)..<((k + 1) * count)]))
                model.styleEncoder.forward(image: image.data, vit)
                for layer in c.styleEncoder.taps { taps += Array(UnsafeBufferPointer(start: vit.layerOutput(layer), count: n)) }
            }
            try check(taps, "sample\(b).style_features")
        }
        // Text encoder.
        let states = Tensor(zeros: [c.text.maxTokens, c.text.width]), pooled = Tensor(zeros: [c.text.pooledWidth])
        for (b, spec) in specs.enumerated() {
            let rows = model.textEncoder.encode(spec.prompt, states: states.data, pooled: pooled.data)
            try check(Array(states.toArray()[0..<(rows * c.text.width)]), "sample\(b).text")
            try check(pooled.toArray(), "sample\(b).pooled")
        }
        // Autoencoder: encode, decode, decode backward.
        let ae = model.autoencoder.makeActivations()
        let image = Tensor(shape: [try inputs.entry("autoencoder.image").count], values: try inputs.read("autoencoder.image"))
        let cotangent = Tensor(shape: [image.count], values: try inputs.read("autoencoder.cotangent"))
        let latentCount = c.autoencoder.latentChannels * c.autoencoder.latentSize * c.autoencoder.latentSize
        let latent = Tensor(zeros: [latentCount]), decoded = Tensor(zeros: [image.count]), dLatent = Tensor(zeros: [latentCount])
        model.autoencoder.encode(image: image.data, latent: latent.data, ae)
        model.autoencoder.decode(latent: latent.data, image: decoded.data, ae)
        model.autoencoder.decodeBackward(dImage: cotangent.data, dLatent: dLatent.data, ae)
        try check(latent.toArray(), "autoencoder.latent")
        try check(decoded.toArray(), "autoencoder.decoded")
        try check(dLatent.toArray(), "autoencoder.latent_grad", gradient: true)
        // Style encoder pooled feature and its gradient with respect to the image.
        let styleImage = Tensor(shape: [try inputs.entry("style_encoder.image").count], values: try inputs.read("style_encoder.image"))
        let pooledCotangent = Tensor(shape: [c.styleEncoder.width], values: try inputs.read("style_encoder.pooled_cotangent"))
        let dImage = Tensor(zeros: [styleImage.count])
        model.styleEncoder.forward(image: styleImage.data, vit)
        try check(vit.pooled.toArray(), "style_encoder.pooled")
        model.styleEncoder.backward(dPooled: pooledCotangent.data, dImage: dImage.data, vit)
        try check(dImage.toArray(), "style_encoder.image_grad", gradient: true)
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    @Test func weightsLoadOnlyWhenEveryKeyAndShapeMatches() throws {
        let dir = Self.folder.path
        let model = try USOModel(config: ModelPreset.tiny.config)
        model.allocate(seed: 0)
        // The LoRA file holds no projector keys.
        do {
            try ModelWeights.load(model.registry.parameters(in: .projector), from: dir + "/weights/dit_lora.safetensors")
            Issue.record("projector weights loaded from the LoRA file")
        } catch {
            #expect("\(error)".contains("tensor \"feature_embedder.high_embedding_linear.0.weight\": missing (the model expects shape [4, 16])"),
                    "\(error)")
        }
        // Another size's model rejects the file by shape.
        var other = ModelPreset.tiny.config
        other.dit.loraRank = 8
        let wrong = try USOModel(config: other)
        wrong.allocate(seed: 0)
        do {
            try ModelWeights.load(wrong.registry.parameters(in: .lora), from: dir + "/weights/dit_lora.safetensors")
            Issue.record("rank-4 LoRA loaded into a rank-8 model")
        } catch {
            #expect("\(error)".contains("has shape [4, 32], the model expects [8, 32]"), "\(error)")
        }
    }
}
