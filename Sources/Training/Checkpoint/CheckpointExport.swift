import Foundation
import SafeTensors
import USOModel

/// `uso ckpt export`: a checkpoint's trained tensors as the files the diffusion ecosystem
/// loads, one per weight group in this project's file names and FLUX/USO key names (stage
/// uso: `dit_lora.safetensors` and `projector.safetensors`, what USO's loader and ComfyUI
/// read; stage base: `base.safetensors`), stored as F32, BF16 or F16, with ModelSpec
/// metadata and the training facts. Every tensor is checked against the checkpoint's
/// checksum first; an existing output file is never replaced unless `force`; each file is
/// written through a temporary name.
public enum CheckpointExport {
    public static func export(_ folder: String, to out: String, dtype: SafeTensorsDType, force: Bool) throws -> [String] {
        let (state, metadata) = try Checkpoint.read(folder)
        guard let preset = ModelPreset(rawValue: state.preset) else { throw CheckpointError(folder, "preset \(state.preset) is not one of this build's") }
        // Which group each trained tensor belongs to, from the preset's model.
        let registry: ParameterRegistry
        if state.stage == "csd" { registry = CSDModel(config: preset.config).registry } else { registry = try USOModel(config: preset.config).registry }
        var groups: [ParameterGroup: [SafeTensorsWriter.Item]] = [:]
        var reader = CheckpointTensors(folder: folder)
        for e in metadata.tensors where e.file == Checkpoint.trainableFile {
            guard let p = registry.parameter(named: e.name) else {
                throw CheckpointError(folder, "\(e.name) is not a tensor of preset \(preset.rawValue)'s model")
            }
            guard p.shape == e.shape else { throw CheckpointError(folder, "\(e.name): shape \(e.shape), preset \(preset.rawValue)'s is \(p.shape)") }
            groups[p.group, default: []].append(.init(name: e.name, shape: e.shape, values: try reader.values(e)))
        }
        guard !groups.isEmpty else { throw CheckpointError(folder, "holds no trained tensors") }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let targets = groups.keys.sorted { $0.rawValue < $1.rawValue }.map { ($0, (out as NSString).appendingPathComponent(ModelWeights.fileName($0))) }
        if !force, let existing = targets.first(where: { FileManager.default.fileExists(atPath: $0.1) }) {
            throw CheckpointError(existing.1, "exists; give --force to replace it (nothing was written)")
        }
        var lines: [String] = []
        for (group, path) in targets {
            let items = groups[group] ?? []
            let architecture = preset == .fluxDev ? "flux-1-dev" : "uso-\(preset.rawValue)"
            let kind = group == .lora ? "/lora" : group == .projector ? "/projector" : ""
            var meta: [String: String] = [
                "format": "pt",
                "modelspec.sai_model_spec": "1.0.0",
                "modelspec.architecture": architecture + kind,
                "modelspec.title": "USO \(group.rawValue), stage \(state.stage), step \(state.step)",
                "modelspec.resolution": "\(preset.config.autoencoder.imageSize)x\(preset.config.autoencoder.imageSize)",
                "uso.stage": state.stage, "uso.step": String(state.step), "uso.seed": String(state.seed),
                "uso.preset": state.preset, "uso.trainers": String(state.trainers), "uso.dtype": dtype.rawValue,
            ]
            if let rank = items.first(where: { $0.name.hasSuffix(".down.weight") })?.shape.first, group == .lora { meta["uso.lora_rank"] = String(rank) }
            try SafeTensorsWriter.write(items, metadata: meta, dtype: dtype, to: path)
            lines.append("wrote \(path): \(items.count) tensors, \(items.reduce(0) { $0 + $1.count }) elements as \(dtype.rawValue)")
        }
        return lines
    }
}
