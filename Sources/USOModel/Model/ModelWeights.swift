import Foundation
import TensorCore
import SafeTensors

/// Model weights as safetensors files, one per group, under the key names of the field:
/// FLUX.1's for the base (`base.safetensors`), USO's for the adapters
/// (`dit_lora.safetensors`) and the projector (`projector.safetensors`).
public enum ModelWeights {
    /// The file each group is saved to in a weights folder.
    public static func fileName(_ group: ParameterGroup) -> String {
        switch group {
        case .base: return "base.safetensors"
        case .lora: return "dit_lora.safetensors"
        case .projector: return "projector.safetensors"
        case .styleEncoder: return "style_encoder.safetensors"
        case .autoencoder: return "autoencoder.safetensors"
        case .textEncoder: return "text_encoder.safetensors"
        case .csd: return "csd.safetensors"
        }
    }

    /// Writes `parameters` (allocated) to `path`, atomically.
    public static func save(_ parameters: [Parameter], to path: String, metadata: [String: String] = [:]) throws(SafeTensorsError) {
        let items = parameters.map { p in
            SafeTensorsWriter.Item(name: p.name, shape: p.shape, data: UnsafeBufferPointer(p.value.buffer), owner: p.value.storage)
        }
        try SafeTensorsWriter.write(items, metadata: metadata.merging(["format": "pt"]) { a, _ in a }, to: path)
    }

    /// Saves every group of `registry` into `folder` (created if needed), one file per group.
    public static func saveAll(_ registry: ParameterRegistry, to folder: String, groups: [ParameterGroup] = ParameterGroup.allCases,
                               metadata: [String: String] = [:]) throws(SafeTensorsError) {
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw SafeTensorsError(path: folder, "cannot create the folder: \(error.localizedDescription)")
        }
        for g in groups {
            let ps = registry.parameters(in: g)
            if ps.isEmpty { continue }
            try save(ps, to: (folder as NSString).appendingPathComponent(fileName(g)), metadata: metadata)
        }
    }

    /// Loads `parameters` from `path`. Every parameter must be in the file with its exact
    /// shape and finite values (a NaN or infinity is refused naming the tensor and element);
    /// with `strict`, the file may hold nothing else. Nothing is changed unless the whole
    /// file matches.
    public static func load(_ parameters: [Parameter], from path: String, strict: Bool = true) throws(SafeTensorsError) {
        let file = try SafeTensorsFile(path: path)
        for p in parameters {
            guard let e = file.entries[p.name] else {
                throw SafeTensorsError(path: path, tensor: p.name, "missing (the model expects shape \(p.shape))")
            }
            guard e.shape == p.shape else {
                throw SafeTensorsError(path: path, tensor: p.name, "has shape \(e.shape), the model expects \(p.shape)")
            }
        }
        if strict {
            let wanted = Set(parameters.map(\.name))
            if let extra = file.names.first(where: { !wanted.contains($0) }) {
                throw SafeTensorsError(path: path, tensor: extra, "is not a parameter of this model's \(Set(parameters.map(\.group.rawValue)).sorted().joined(separator: ", ")) weights")
            }
        }
        var staged: [[Float]] = []
        for p in parameters {
            var values = [Float](repeating: 0, count: p.count)
            try values.withUnsafeMutableBufferPointer { (b) throws(SafeTensorsError) in try file.read(p.name, into: b) }
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw SafeTensorsError(path: path, tensor: p.name, "holds \(values[bad]) at element \(bad) of \(p.count): weights must be finite")
            }
            staged.append(values)
        }
        for (p, values) in zip(parameters, staged) {
            let tensor: Tensor = p.value
            values.withUnsafeBufferPointer { v in
                if let source = v.baseAddress { withExtendedLifetime(tensor) { tensor.data.update(from: source, count: v.count) } }
            }
        }
    }

    /// Loads the groups' files from `folder`.
    public static func loadAll(_ registry: ParameterRegistry, from folder: String, groups: [ParameterGroup]) throws(SafeTensorsError) {
        for g in groups {
            let ps = registry.parameters(in: g)
            if ps.isEmpty { continue }
            try load(ps, from: (folder as NSString).appendingPathComponent(fileName(g)))
        }
    }
}
