import Foundation

/// What `uso model info` reports about a preset, computed from the registered parameters
/// and the dimensions alone: no parameter memory is allocated, so FLUX-size models work.
public struct ModelInfo: Sendable {
    public let config: ModelConfig
    /// Elements per parameter group.
    public let counts: [ParameterGroup: Int]
    /// (name, shape) of the LoRA and projector parameters, in build order.
    public let loraKeys: [(String, [Int])]
    public let projectorKeys: [(String, [Int])]
    /// Tokens of a full USO sample (one content reference, the most style images, the longest text).
    public let noisyTokens: Int, referenceTokens: Int, styleTokens: Int, textTokens: Int
    /// The DiT's forward at that sample, with the projector's.
    public let forward: FLOPCount
    public let projectorFLOPs: Double

    public init(model: USOModel) {
        let c = model.config
        config = c
        counts = model.registry.counts()
        loraKeys = model.registry.parameters(in: .lora).map { ($0.name, $0.shape) }
        projectorKeys = model.registry.parameters(in: .projector).map { ($0.name, $0.shape) }
        noisyTokens = c.noisyTokens
        referenceTokens = min(1, c.maxReferences) * c.referenceTokens
        styleTokens = c.maxStyleImages * c.styleTokensPerImage
        textTokens = c.text.maxTokens
        forward = model.dit.forwardFLOPs(noisyRows: noisyTokens, referenceRows: referenceTokens, styleRows: styleTokens,
                                         textRows: textTokens)
        projectorFLOPs = model.projector.forwardFLOPs(images: c.maxStyleImages)
    }

    public func count(_ g: ParameterGroup) -> Int { counts[g] ?? 0 }

    /// Trainable elements per stage.
    public var usoTrainable: Int { count(.lora) + count(.projector) }
    public var baseTrainable: Int { count(.base) }

    /// The report as text.
    public func rendered(listKeys: Bool) -> String {
        var lines: [String] = []
        let d = config.dit
        lines.append("preset \(config.name): DiT width \(d.hiddenSize), \(d.heads) heads of \(d.headDim), "
                     + "\(d.doubleBlocks) double + \(d.singleBlocks) single blocks, RoPE axes \(d.axesDims), LoRA rank \(d.loraRank)")
        lines.append("images \(config.autoencoder.imageSize) px, latent \(config.autoencoder.latentChannels) x "
                     + "\(config.autoencoder.latentSize)^2 (factor \(config.autoencoder.factor)); style encoder "
                     + "\(config.styleEncoder.tokens) tokens x \(config.styleEncoder.width), taps \(config.styleEncoder.taps)")
        lines.append("")
        lines.append("parameters")
        let total = counts.values.reduce(0, +)
        func row(_ label: String, _ n: Int) -> String {
            let m = n >= 1_000_000 ? String(format: "  %10.1f M", Double(n) / 1e6) : ""
            return "  \(label.padding(toLength: 14, withPad: " ", startingAt: 0))\(Self.grouped(n).leftPadded(16))\(m)"
        }
        for g in ParameterGroup.allCases where count(g) > 0 { lines.append(row(g.rawValue, count(g))) }
        lines.append(row("total", total))
        lines.append("")
        lines.append("tokens per sample (one content reference, \(config.maxStyleImages) style image(s), longest prompt): "
                     + "noisy \(noisyTokens), reference \(referenceTokens), style \(styleTokens), text \(textTokens); "
                     + "joint sequence \(noisyTokens + referenceTokens + styleTokens + textTokens)")
        let fwd = forward.total + projectorFLOPs
        lines.append("FLOPs per sample: forward \(Self.flops(fwd)); backward \(Self.flops(forward.backwardAdaptersOnly + projectorFLOPs)) "
                     + "in stage uso (LoRA + projector trained), \(Self.flops(forward.backwardAllTrainable)) in stage base (all DiT weights)")
        lines.append("")
        lines.append("memory (float32)")
        let weights = Double(total) * 4
        lines.append("  weights, every part      \(Self.bytes(weights))")
        lines.append("  stage uso: gradients     \(Self.bytes(Double(usoTrainable) * 4)), AdamW state \(Self.bytes(Double(usoTrainable) * 8)) "
                     + "(\(Self.number(usoTrainable)) trainable)")
        lines.append("  stage base: gradients    \(Self.bytes(Double(baseTrainable) * 4)), AdamW state \(Self.bytes(Double(baseTrainable) * 8)) "
                     + "(\(Self.number(baseTrainable)) trainable)")
        if listKeys {
            lines.append("")
            lines.append("dit_lora.safetensors: \(loraKeys.count) tensors, \(Self.number(count(.lora))) parameters")
            for (name, shape) in loraKeys { lines.append("  \(name) \(shape)") }
            lines.append("projector.safetensors: \(projectorKeys.count) tensors, \(Self.number(count(.projector))) parameters")
            for (name, shape) in projectorKeys { lines.append("  \(name) \(shape)") }
        }
        return lines.joined(separator: "\n")
    }

    /// 239075328 -> "239,075,328".
    static func grouped(_ n: Int) -> String {
        let digits = String(n)
        var out = ""
        for (i, ch) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(ch)
        }
        return out
    }

    /// 239075328 -> "239,075,328 (239.1 M)".
    static func number(_ n: Int) -> String {
        n >= 1_000_000 ? grouped(n) + String(format: " (%.1f M)", Double(n) / 1e6) : grouped(n)
    }

    static func flops(_ f: Double) -> String {
        if f >= 1e12 { return String(format: "%.2f TFLOP", f / 1e12) }
        if f >= 1e9 { return String(format: "%.2f GFLOP", f / 1e9) }
        return String(format: "%.1f MFLOP", f / 1e6)
    }

    static func bytes(_ b: Double) -> String {
        if b >= 1_073_741_824 { return String(format: "%.2f GiB", b / 1_073_741_824) }
        if b >= 1_048_576 { return String(format: "%.1f MiB", b / 1_048_576) }
        return String(format: "%.1f KiB", b / 1024)
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
