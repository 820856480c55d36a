import Config
import Foundation
import USOModel

/// What a stage starts from (`run.init_weights`), and the rule that every weight group a
/// stage needs, frozen or trained, comes from the named folder or the run fails naming the
/// missing file. A random start is always an explicit choice:
///
/// - autoencoder, csd: `""` trains from random values (these stages start from nothing);
///   a named folder must hold the stage's own file (autoencoder.safetensors, csd.safetensors).
/// - base: needs the autoencoder and the text encoder (frozen) from the autoencoder stage's
///   weights/ folder; its DiT starts random unless the folder holds base.safetensors too.
/// - uso: needs the base DiT, the autoencoder, the text and the style encoder (all frozen)
///   from the base stage's weights/ folder; LoRA and projector start from it when present.
/// - `"random"`, any stage: every group from its seeded random initializer (for tests and
///   benchmarks, where only speed or equivalence matters).
public enum InitialWeights {
    public static let random = "random"

    /// The groups stage `stage` must find in a named init folder.
    public static func required(_ stage: Stage) -> [ParameterGroup] {
        switch stage {
        case .autoencoder: return [.autoencoder]
        case .csd: return [.csd]
        case .base: return [.autoencoder, .textEncoder]
        case .uso: return [.base, .autoencoder, .textEncoder, .styleEncoder]
        }
    }

    /// Whether `run.init_weights = ""` is a documented random start for the stage.
    public static func startsFromNothing(_ stage: Stage) -> Bool { stage == .autoencoder || stage == .csd }

    /// Loads `run.init_weights` for `stage` into `registries`: the required groups must be
    /// there; every other group file present is loaded too (strictly: its exact keys and shapes).
    public static func load(_ folder: String, stage: Stage, into registries: [ParameterRegistry]) throws {
        if folder == random { return }
        if folder.isEmpty {
            guard startsFromNothing(stage) else {
                let files = required(stage).map(ModelWeights.fileName).joined(separator: ", ")
                let source = stage == .base ? "the autoencoder stage's" : "the base stage's"
                throw TrainingError("run.init_weights is empty, but stage \(stage.rawValue) starts from trained weights: set it to "
                                    + "\(source) weights/ folder (it must hold \(files)), or to \"random\" to start every group "
                                    + "from random values (tests and benchmarks only)")
            }
            return
        }
        try loadFolder(folder, key: "run.init_weights", required: required(stage), into: registries)
    }

    public static func loadFolder(_ folder: String, key: String, required: [ParameterGroup], into registries: [ParameterRegistry]) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw TrainingError("\(key) \(folder) is not a folder of weights")
        }
        let path = { (g: ParameterGroup) in (folder as NSString).appendingPathComponent(ModelWeights.fileName(g)) }
        let missing = required.filter { !FileManager.default.fileExists(atPath: path($0)) }
        guard missing.isEmpty else {
            throw TrainingError("\(key) \(folder) holds no \(missing.map(ModelWeights.fileName).joined(separator: ", ")): "
                                + "the run needs \(required.map(ModelWeights.fileName).joined(separator: ", ")) from it")
        }
        for r in registries {
            for g in ParameterGroup.allCases where !r.parameters(in: g).isEmpty && FileManager.default.fileExists(atPath: path(g)) {
                try ModelWeights.load(r.parameters(in: g), from: path(g))
            }
        }
    }
}
