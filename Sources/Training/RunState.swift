import Foundation
import SafeTensors
import TripletData
import USOModel

/// What `uso train --resume` continues from: the step, the data cursor and AdamW's step,
/// beside the run's weights/ and the optimizer moments in state/optimizer.safetensors.
/// (The full checkpoint system, sharded and reshardable, is a later issue.)
public struct RunState: Codable, Sendable, Equatable {
    public var step: Int
    public var cursor: DataCursor
    public var adamStep: Int
    public var stage: String
    public var trainers: Int
    /// The learning-rate schedule's planned length (run.steps when the run started); absent
    /// in states written before it was recorded.
    public var scheduleSteps: Int?

    public static func folder(_ run: String) -> String { (run as NSString).appendingPathComponent("state") }
    public static func weights(_ run: String) -> String { (run as NSString).appendingPathComponent("weights") }

    /// Writes weights (every group of `registries`), optimizer moments and this state; the
    /// state file is written last, so a crash leaves the previous complete state.
    public func save(run: String, registries: [ParameterRegistry], optimizer: AdamW) throws {
        let weightsFolder = Self.weights(run), stateFolder = Self.folder(run)
        try FileManager.default.createDirectory(atPath: stateFolder, withIntermediateDirectories: true)
        for r in registries { try ModelWeights.saveAll(r, to: weightsFolder) }
        var items: [SafeTensorsWriter.Item] = []
        var offset = 0
        for p in optimizer.store.trainable {
            items.append(.init(name: "m." + p.name, shape: p.shape, data: UnsafeBufferPointer(start: optimizer.m.base + offset, count: p.count),
                               owner: optimizer.m))
            items.append(.init(name: "v." + p.name, shape: p.shape, data: UnsafeBufferPointer(start: optimizer.v.base + offset, count: p.count),
                               owner: optimizer.v))
            offset += p.count
        }
        try SafeTensorsWriter.write(items, metadata: ["adam_step": String(optimizer.step)],
                                    to: (stateFolder as NSString).appendingPathComponent("optimizer.safetensors"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: (stateFolder as NSString).appendingPathComponent("state.json")), options: .atomic)
    }

    /// Reads the state of `run`, or nil when it has none.
    public static func load(run: String) throws -> RunState? {
        let path = (folder(run) as NSString).appendingPathComponent("state.json")
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(RunState.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch let e as DecodingError {
            throw SafeTensorsError(path: path, "not a readable run state: \(DecodingProblem(e))")
        } catch {
            throw SafeTensorsError(path: path, "not a readable run state: \(error.localizedDescription)")
        }
    }

    /// Loads the optimizer moments saved with this state.
    public func loadOptimizer(run: String, into optimizer: AdamW) throws {
        let path = (Self.folder(run) as NSString).appendingPathComponent("optimizer.safetensors")
        let file = try SafeTensorsFile(path: path)
        var offset = 0
        for p in optimizer.store.trainable {
            try file.read("m." + p.name, into: UnsafeMutableBufferPointer(start: optimizer.m.base + offset, count: p.count))
            try file.read("v." + p.name, into: UnsafeMutableBufferPointer(start: optimizer.v.base + offset, count: p.count))
            offset += p.count
        }
        optimizer.step = adamStep
    }
}
