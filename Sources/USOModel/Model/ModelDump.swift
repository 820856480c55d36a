import Foundation
import SafeTensors
import TensorCore

/// `uso model dump`: the model's whole state for one fixed batch, as safetensors files that
/// anyone can check from outside (Scripts/reference/uso_reference.py does).
///
/// The batch has one sample per kind of condition: subject + style, style only, subject only,
/// text only, and (when the preset allows two style images) multi-style. Images are drawn from
/// the seed and go through the frozen encoders; t and the noise are keyed by sample id.
/// The loss is the flow-matching loss mean over samples of mean((v_hat - (noise - x0))^2).
public enum ModelDump {
    /// Conditions of one dumped sample.
    public struct SampleSpec: Codable, Sendable {
        public let name: String
        public let styleCount: Int
        public let referenceCount: Int
        public let prompt: String
    }

    public struct Summary: Sendable {
        public let loss: Double
        public let samples: [SampleSpec]
        public let files: [String]
    }

    static func specs(_ c: ModelConfig) -> [SampleSpec] {
        var s = [
            SampleSpec(name: "subject_style", styleCount: 1, referenceCount: 1, prompt: "a red robot in watercolor style"),
            SampleSpec(name: "style", styleCount: 1, referenceCount: 0, prompt: "a small house on a hill"),
            SampleSpec(name: "subject", styleCount: 0, referenceCount: 1, prompt: "the same cat on the beach at sunset"),
            SampleSpec(name: "text", styleCount: 0, referenceCount: 0, prompt: ""),
        ]
        if c.maxStyleImages >= 2 {
            s.append(SampleSpec(name: "multi_style", styleCount: 2, referenceCount: 1, prompt: "a blue teapot in pencil sketch style"))
        }
        return s
    }

    /// Builds `preset` from `seed`, sets LoRA up weights to normal(0, loraUpStd) (0 keeps USO's
    /// zero init, under which the LoRA down gradients are exactly zero), runs the batch, and
    /// writes weights/, config.json, inputs.safetensors and outputs.safetensors into `folder`.
    public static func write(preset: ModelPreset, seed: UInt64, loraUpStd: Float, to folder: String) throws -> Summary {
        let c = preset.config
        let model = try USOModel(config: c)
        let store = model.allocate(seed: seed)
        if loraUpStd > 0 {
            for (i, p) in model.registry.parameters(in: .lora).enumerated() where p.name.hasSuffix(".up.weight") {
                var stream = RandomStream(seed: seed ^ 0x5EED, purpose: .parameterInit, id: UInt64(1_000_000 + i))
                stream.fillNormal(p.value.buffer, std: loraUpStd)
            }
        }
        store.allocateGradients { $0.group == .lora || $0.group == .projector }
        store.zeroGradients()
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let weights = (folder as NSString).appendingPathComponent("weights")
        try ModelWeights.saveAll(model.registry, to: weights,
                                 metadata: ["preset": c.name, "seed": String(seed),
                                            "vocabulary": model.textEncoder.vocabulary.words.joined(separator: "\n")])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(c).write(to: URL(fileURLWithPath: (folder as NSString).appendingPathComponent("config.json")))

        let specs = specs(c)
        let acts = model.makeActivations()
        let ae = model.autoencoder.makeActivations(), vit = model.styleEncoder.makeActivations()
        let side = c.autoencoder.latentSize / 2, tokens = c.noisyTokens, inC = c.dit.inChannels
        let imageCount = 3 * c.autoencoder.imageSize * c.autoencoder.imageSize
        let styleImageCount = 3 * c.styleEncoder.imageSize * c.styleEncoder.imageSize
        let featureCount = 3 * c.styleEncoder.tokens * c.styleEncoder.width
        var inputs: [(String, [Int], [Float])] = []
        var outputs: [(String, [Int], [Float])] = []
        var totalLoss = 0.0

        func randomImage(_ id: UInt64, count: Int) -> Tensor {
            var s = RandomStream(seed: seed, purpose: .synthesis, id: id)
            let t = Tensor(zeros: [count])
            s.fillUniform(t.buffer, low: -1, high: 1)
            return t
        }
        func tokensOf(_ image: Tensor) -> Tensor {
            let latent = Tensor(zeros: [c.autoencoder.latentChannels, c.autoencoder.latentSize, c.autoencoder.latentSize])
            model.autoencoder.encode(image: image.data, latent: latent.data, ae)
            let out = Tensor(zeros: [tokens, inC])
            model.autoencoder.pack(latent: latent.data, tokens: out.data)
            return out
        }

        for (b, spec) in specs.enumerated() {
            let id = UInt64(b)
            let x0 = tokensOf(randomImage(id * 10, count: imageCount))
            var noiseStream = RandomStream(seed: seed, purpose: .noise, id: id)
            let noise = Tensor(zeros: [tokens, inC])
            noiseStream.fillNormal(noise.buffer)
            var tStream = RandomStream(seed: seed, purpose: .timestep, id: id)
            let t = 0.05 + 0.9 * tStream.nextUniform()
            let noisy = Tensor(zeros: [tokens, inC]), target = Tensor(zeros: [tokens, inC])
            for i in 0..<noisy.count {
                noisy[i] = (1 - t) * x0[i] + t * noise[i]
                target[i] = noise[i] - x0[i]
            }
            let reference = spec.referenceCount > 0 ? tokensOf(randomImage(id * 10 + 1, count: imageCount)) : nil
            let features = Tensor(zeros: [max(1, spec.styleCount) * featureCount])
            var styleImages: [Float] = []
            for k in 0..<spec.styleCount {
                let styleImage = randomImage(id * 10 + 2 + UInt64(k), count: styleImageCount)
                styleImages += styleImage.toArray()
                model.styleEncoder.forward(image: styleImage.data, vit)
                for (level, layer) in c.styleEncoder.taps.enumerated() {
                    (features.data + k * featureCount + level * featureCount / 3)
                        .update(from: vit.layerOutput(layer), count: featureCount / 3)
                }
            }
            let text = Tensor(zeros: [c.text.maxTokens, c.text.width]), pooled = Tensor(zeros: [c.text.pooledWidth])
            let textRows = model.textEncoder.encode(spec.prompt, states: text.data, pooled: pooled.data)

            let sample = USOModel.Sample(noisy: noisy, grid: (side, side), references: reference,
                                         referenceCount: spec.referenceCount, referenceGrid: (side, side),
                                         styleFeatures: spec.styleCount > 0 ? features : nil,
                                         styleCount: spec.styleCount, text: text, textRows: textRows, pooled: pooled, t: t)
            model.forward(sample, acts)
            let vhat = acts.output.rows(0..<tokens)
            let dv = Tensor(zeros: [tokens, inC])
            var sq = 0.0
            let scale = 2 / Float(tokens * inC * specs.count)
            for i in 0..<dv.count {
                let e = vhat[i] - target[i]
                sq += Double(e) * Double(e)
                dv[i] = scale * e
            }
            totalLoss += sq / Double(tokens * inC) / Double(specs.count)
            model.backward(dOutput: dv.data, acts)

            let p = "sample\(b)."
            inputs.append((p + "noisy", [tokens, inC], noisy.toArray()))
            inputs.append((p + "target", [tokens, inC], target.toArray()))
            if let reference { inputs.append((p + "reference", [tokens, inC], reference.toArray())) }
            if spec.styleCount > 0 {
                inputs.append((p + "style_images", [spec.styleCount, 3, c.styleEncoder.imageSize, c.styleEncoder.imageSize],
                               styleImages))
                inputs.append((p + "style_features", [spec.styleCount, 3, c.styleEncoder.tokens, c.styleEncoder.width],
                               Array(features.toArray()[0..<(spec.styleCount * featureCount)])))
            }
            inputs.append((p + "text", [textRows, c.text.width], Array(text.toArray()[0..<(textRows * c.text.width)])))
            inputs.append((p + "pooled", [c.text.pooledWidth], pooled.toArray()))
            inputs.append((p + "t", [1], [t]))
            inputs.append((p + "guidance", [1], [1]))
            let idRows = spec.styleCount * c.styleTokensPerImage + textRows + tokens + spec.referenceCount * tokens
            inputs.append((p + "position_ids", [idRows, 3], Array(acts.positionIds.toArray()[0..<(idRows * 3)])))
            outputs.append((p + "v_hat", [tokens, inC], vhat.toArray()))
        }
        outputs.append(("loss", [1], [Float(totalLoss)]))
        let (encoderInputs, encoderOutputs) = encoderChecks(model, seed: seed, ae: ae, vit: vit)
        inputs += encoderInputs
        outputs += encoderOutputs
        for p in model.registry.parameters where p.grad != nil {
            outputs.append(("grad." + p.name, p.shape, p.grad!.toArray()))
        }
        let specEncoder = JSONEncoder()
        specEncoder.outputFormatting = [.sortedKeys]   // the same bytes on every run
        let specJSON = String(decoding: try specEncoder.encode(specs), as: UTF8.self)
        let meta = ["preset": c.name, "seed": String(seed), "samples": specJSON, "lora_up_std": String(loraUpStd)]
        let inputsPath = (folder as NSString).appendingPathComponent("inputs.safetensors")
        let outputsPath = (folder as NSString).appendingPathComponent("outputs.safetensors")
        try writeArrays(inputs, metadata: meta, to: inputsPath)
        try writeArrays(outputs, metadata: meta, to: outputsPath)
        let files = ["config.json", "inputs.safetensors", "outputs.safetensors"]
            + ParameterGroup.allCases.filter { !model.registry.parameters(in: $0).isEmpty }.map { "weights/" + ModelWeights.fileName($0) }
        return Summary(loss: totalLoss, samples: specs, files: files)
    }

    /// The frozen encoders on fixed inputs: autoencoder encode, decode and the decode's
    /// backward for a fixed cotangent; the style encoder's pooled feature and its backward to
    /// the image.
    static func encoderChecks(_ model: USOModel, seed: UInt64, ae: Autoencoder.Activations,
                              vit: VisionTransformer.Activations) -> ([(String, [Int], [Float])], [(String, [Int], [Float])]) {
        let c = model.config
        func random(_ id: UInt64, _ n: Int, low: Float = -1, high: Float = 1) -> Tensor {
            var s = RandomStream(seed: seed, purpose: .evaluation, id: id)
            let t = Tensor(zeros: [n])
            s.fillUniform(t.buffer, low: low, high: high)
            return t
        }
        let s = c.autoencoder.imageSize, g = c.autoencoder.latentSize, ch = c.autoencoder.latentChannels
        let image = random(1, 3 * s * s), latent = Tensor(zeros: [ch * g * g])
        model.autoencoder.encode(image: image.data, latent: latent.data, ae)
        let decoded = Tensor(zeros: [3 * s * s]), cotangent = random(2, 3 * s * s), dLatent = Tensor(zeros: [ch * g * g])
        model.autoencoder.decode(latent: latent.data, image: decoded.data, ae)
        model.autoencoder.decodeBackward(dImage: cotangent.data, dLatent: dLatent.data, ae)
        let vs = c.styleEncoder.imageSize, e = c.styleEncoder.width
        let styleImage = random(3, 3 * vs * vs), pooledCotangent = random(4, e), dImage = Tensor(zeros: [3 * vs * vs])
        model.styleEncoder.forward(image: styleImage.data, vit)
        let pooled = vit.pooled.toArray()
        model.styleEncoder.backward(dPooled: pooledCotangent.data, dImage: dImage.data, vit)
        let inputs: [(String, [Int], [Float])] = [
            ("autoencoder.image", [3, s, s], image.toArray()),
            ("autoencoder.cotangent", [3, s, s], cotangent.toArray()),
            ("style_encoder.image", [3, vs, vs], styleImage.toArray()),
            ("style_encoder.pooled_cotangent", [e], pooledCotangent.toArray()),
        ]
        let outputs: [(String, [Int], [Float])] = [
            ("autoencoder.latent", [ch, g, g], latent.toArray()),
            ("autoencoder.decoded", [3, s, s], decoded.toArray()),
            ("autoencoder.latent_grad", [ch, g, g], dLatent.toArray()),
            ("style_encoder.pooled", [e], pooled),
            ("style_encoder.image_grad", [3, vs, vs], dImage.toArray()),
        ]
        return (inputs, outputs)
    }

    static func writeArrays(_ arrays: [(String, [Int], [Float])], metadata: [String: String], to path: String) throws {
        try SafeTensorsWriter.write(arrays.map { SafeTensorsWriter.Item(name: $0.0, shape: $0.1, values: $0.2) },
                                    metadata: metadata, to: path)
    }
}
