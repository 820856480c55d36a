import Config
import Foundation
import SafeTensors
import TensorCore
import USOModel

/// `uso ckpt export`: a checkpoint's trained tensors as the files the diffusion ecosystem
/// loads, one per weight group in this project's file names and FLUX/USO key names (stage
/// uso: `dit_lora.safetensors` and `projector.safetensors`, what USO's loader and ComfyUI
/// read; stage base: `base.safetensors`), stored as F32, BF16 or F16, with ModelSpec
/// metadata and the training facts. Every tensor is checked against the checkpoint's
/// checksum first; an existing output file is never replaced unless `force`; each file is
/// written through a temporary name.
///
/// `average` K > 1 exports the mean of the trained tensors of the run's last K complete
/// checkpoints up to this one; `fuse` also writes `dit_fused.safetensors`: the base DiT's
/// weights (FLUX key names) with every LoRA merged in, W[offset ..< offset + out] += up down.
public enum CheckpointExport {
    public struct Options: Sendable {
        public var dtype: SafeTensorsDType = .f32
        public var force = false
        public var average = 1
        public var fuse = false
        /// The base DiT weights to fuse into (a base.safetensors, or a folder holding one);
        /// nil: the run's `run.init_weights`, from the checkpoint's config.
        public var base: String?
        public init() {}
    }

    public static func export(_ folder: String, to out: String, dtype: SafeTensorsDType, force: Bool) throws -> [String] {
        var o = Options()
        o.dtype = dtype
        o.force = force
        return try export(folder, to: out, options: o)
    }

    public static func export(_ folder: String, to out: String, options: Options) throws -> [String] {
        let (state, metadata) = try Checkpoint.read(folder)
        guard let preset = ModelPreset(rawValue: state.preset) else { throw CheckpointError(folder, "preset \(state.preset) is not one of this build's") }
        // Which group each trained tensor belongs to, from the preset's model (built, not allocated).
        let registry: ParameterRegistry
        if state.stage == "csd" { registry = CSDModel(config: preset.config).registry } else { registry = try USOModel(config: preset.config).registry }
        var trained = try trainedTensors(folder, metadata: metadata, registry: registry, preset: preset)
        var averaged: [Int] = [state.step]
        if options.average > 1 { (trained, averaged) = try average(folder, state: state, count: options.average, like: trained) }
        var groups: [ParameterGroup: [SafeTensorsWriter.Item]] = [:]
        for (name, shape, values) in trained { groups[registry.parameter(named: name)!.group, default: []].append(.init(name: name, shape: shape, values: values)) }
        guard !groups.isEmpty else { throw CheckpointError(folder, "holds no trained tensors") }

        var targets = groups.keys.sorted { $0.rawValue < $1.rawValue }.map { ($0, (out as NSString).appendingPathComponent(ModelWeights.fileName($0))) }
        let fusedPath = (out as NSString).appendingPathComponent(fusedFile)
        if options.fuse {
            guard groups[.lora] != nil else { throw CheckpointError(folder, "stage \(state.stage) trains no LoRA: nothing to fuse (--fuse is for stage uso)") }
        }
        let outputs = targets.map(\.1) + (options.fuse ? [fusedPath] : [])
        if !options.force, let existing = outputs.first(where: { FileManager.default.fileExists(atPath: $0) }) {
            throw CheckpointError(existing, "exists; give --force to replace it (nothing was written)")
        }
        // The fused weights are computed before anything is written: a missing base writes nothing.
        var fused: [SafeTensorsWriter.Item] = []
        if options.fuse { fused = try fuse(trained, registry: registry, base: try basePath(options.base, state: state, folder: folder), folder: folder) }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var lines: [String] = []
        let architecture = preset == .fluxDev ? "flux-1-dev" : "uso-\(preset.rawValue)"
        var facts: [String: String] = [
            "format": "pt", "modelspec.sai_model_spec": "1.0.0",
            "modelspec.resolution": "\(preset.config.autoencoder.imageSize)x\(preset.config.autoencoder.imageSize)",
            "uso.stage": state.stage, "uso.step": String(state.step), "uso.seed": String(state.seed),
            "uso.preset": state.preset, "uso.trainers": String(state.trainers), "uso.dtype": options.dtype.rawValue,
        ]
        if let d = state.dataManifest { facts["uso.data_manifest"] = d }
        if let c = state.dataChecksum { facts["uso.data_checksum"] = c }
        if averaged.count > 1 { facts["uso.averaged_steps"] = averaged.map(String.init).joined(separator: ",") }
        if options.fuse { targets.append((.base, fusedPath)) }
        for (group, path) in targets {
            let isFused = path == fusedPath
            let items = isFused ? fused : groups[group] ?? []
            let kind = isFused ? "" : group == .lora ? "/lora" : group == .projector ? "/projector" : ""
            var meta = facts
            meta["modelspec.architecture"] = architecture + kind
            meta["modelspec.title"] = "USO \(isFused ? "DiT with the LoRA fused" : group.rawValue), stage \(state.stage), step \(state.step)"
            if let rank = items.first(where: { $0.name.hasSuffix(".down.weight") })?.shape.first, group == .lora { meta["uso.lora_rank"] = String(rank) }
            try SafeTensorsWriter.write(items, metadata: meta, dtype: options.dtype, to: path)
            lines.append("wrote \(path): \(items.count) tensors, \(items.reduce(0) { $0 + $1.count }) elements as \(options.dtype.rawValue)"
                         + (averaged.count > 1 && !isFused ? ", the mean of steps \(averaged.map(String.init).joined(separator: ", "))" : ""))
        }
        return lines
    }

    /// The file `--fuse` writes.
    public static let fusedFile = "dit_fused.safetensors"

    /// Every trained tensor of a checkpoint (name, shape, values), each checked against the preset's model.
    static func trainedTensors(_ folder: String, metadata: CheckpointMetadata, registry: ParameterRegistry,
                               preset: ModelPreset) throws -> [(String, [Int], [Float])] {
        var reader = CheckpointTensors(folder: folder)
        var result: [(String, [Int], [Float])] = []
        for e in metadata.tensors where e.file == Checkpoint.trainableFile {
            guard let p = registry.parameter(named: e.name) else {
                throw CheckpointError(folder, "\(e.name) is not a tensor of preset \(preset.rawValue)'s model")
            }
            guard p.shape == e.shape else { throw CheckpointError(folder, "\(e.name): shape \(e.shape), preset \(preset.rawValue)'s is \(p.shape)") }
            result.append((e.name, e.shape, try reader.values(e)))
        }
        return result
    }

    /// The mean of the trained tensors over the run's last `count` complete checkpoints up to
    /// `folder`'s step (summed in Double), with the steps averaged.
    static func average(_ folder: String, state: CheckpointState, count: Int,
                        like newest: [(String, [Int], [Float])]) throws -> ([(String, [Int], [Float])], [Int]) {
        let root = (folder as NSString).deletingLastPathComponent
        let run = CheckpointFolder(run: (root as NSString).deletingLastPathComponent)
        let steps = Array(run.completeSteps().filter { $0 <= state.step }.suffix(count))
        guard steps.count == count, steps.last == state.step else {
            throw CheckpointError(root, "--average \(count): only \(steps.count) complete checkpoint(s) up to step \(state.step) (\(steps.map(String.init).joined(separator: ", ")))")
        }
        var sums = newest.map { [Double](repeating: 0, count: $0.2.count) }
        for step in steps {
            let path = run.path(step: step)
            let (s, m) = try Checkpoint.read(path)
            guard s.stage == state.stage, s.preset == state.preset else {
                throw CheckpointError(path, "stage \(s.stage), preset \(s.preset): not the averaged checkpoint's stage \(state.stage), preset \(state.preset)")
            }
            var reader = CheckpointTensors(folder: path)
            let byName = Dictionary(m.tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            for (k, (name, shape, _)) in newest.enumerated() {
                guard let e = byName[name], e.shape == shape else { throw CheckpointError(path, "\(name): missing or of another shape than in step \(state.step)") }
                let values = try reader.values(e)
                for i in values.indices { sums[k][i] += Double(values[i]) }
            }
        }
        let mean = newest.enumerated().map { k, t in (t.0, t.1, sums[k].map { Float($0 / Double(count)) }) }
        return (mean, steps)
    }

    /// The base DiT's file: `base` (a file, or a folder holding base.safetensors), or the run's
    /// `run.init_weights` from the checkpoint's config and overrides.
    static func basePath(_ base: String?, state: CheckpointState, folder: String) throws -> String {
        var path = base ?? ""
        if path.isEmpty {
            let overrides = state.overrides.compactMap { o -> (String, String)? in
                guard let eq = o.firstIndex(of: "=") else { return nil }
                return (String(o[..<eq]), String(o[o.index(after: eq)...]))
            }
            let config = try RunConfig.parse(state.configText, source: "\(folder)/state.json config_text", overrides: overrides)
            path = config.run.initWeights
            guard !path.isEmpty, path != "random" else {
                throw CheckpointError(folder, "the run started from run.init_weights = \"\(path)\": give the base weights to fuse into with --base")
            }
        }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            path = (path as NSString).appendingPathComponent(ModelWeights.fileName(.base))
        }
        guard FileManager.default.fileExists(atPath: path) else { throw CheckpointError(path, "no such base weights file (--base)") }
        return path
    }

    /// The base DiT weights from `base` with every adapter of `trained` merged into its host.
    static func fuse(_ trained: [(String, [Int], [Float])], registry: ParameterRegistry, base: String, folder: String) throws -> [SafeTensorsWriter.Item] {
        let file = try SafeTensorsFile(path: base)
        var weights: [String: [Float]] = [:]
        let baseParameters = registry.parameters(in: .base)
        for p in baseParameters {
            let e = try file.entry(p.name)
            guard e.shape == p.shape else { throw CheckpointError(base, "\(p.name): shape \(e.shape), the model's is \(p.shape)") }
            weights[p.name] = try file.read(p.name)
        }
        let values = Dictionary(trained.map { ($0.0, $0.2) }, uniquingKeysWith: { a, _ in a })
        for lora in registry.adapters {
            guard let host = lora.host else { continue }
            guard let down = values[lora.down.name], let up = values[lora.up.name] else {
                throw CheckpointError(folder, "\(lora.name): its LoRA tensors are not in the checkpoint")
            }
            guard var w = weights[host.name] else { throw CheckpointError(base, "\(host.name): not in the base weights") }
            let columns = host.shape[1]
            // W[offset ..< offset + out, :] += up (out, rank) x down (rank, in).
            w.withUnsafeMutableBufferPointer { wp in
                up.withUnsafeBufferPointer { u in
                    down.withUnsafeBufferPointer { d in
                        Gemm.multiply(transA: false, transB: false, m: lora.outFeatures, n: lora.inFeatures, k: lora.rank,
                                      a: u.baseAddress!, lda: lora.rank, b: d.baseAddress!, ldb: lora.inFeatures, beta: 1,
                                      c: wp.baseAddress! + lora.outputOffset * columns, ldc: columns)
                    }
                }
            }
            weights[host.name] = w
        }
        return baseParameters.map { .init(name: $0.name, shape: $0.shape, values: weights[$0.name]!) }
    }
}
