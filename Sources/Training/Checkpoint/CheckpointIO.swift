import Foundation
import SafeTensors
import TensorCore
import TripletData
import USOModel

/// A checkpoint that cannot be used, naming the folder, the file or tensor, and what is wrong.
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let message: String
    public init(_ path: String, _ message: String) { self.path = path; self.message = message }
    public var description: String { "\(path): \(message)" }
}

extension Checkpoint {
    /// Writes the trainable tensors, the optimizer state, state.json and metadata.json of
    /// `state` into `folder` (created), each file to a temporary name, synced and renamed;
    /// no DONE (the caller writes it once every trainer is done).
    public static func write(_ state: CheckpointState, optimizer: AdamW, to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var weights: [SafeTensorsWriter.Item] = [], moments: [SafeTensorsWriter.Item] = []
        var entries: [CheckpointMetadata.Entry] = []
        var offset = 0
        for p in optimizer.store.trainable {
            let value: Tensor = p.value
            let m = UnsafeBufferPointer(start: optimizer.m.base + offset, count: p.count)
            let v = UnsafeBufferPointer(start: optimizer.v.base + offset, count: p.count)
            weights.append(.init(name: p.name, shape: p.shape, data: UnsafeBufferPointer(value.buffer), owner: value.storage))
            moments.append(.init(name: "m." + p.name, shape: p.shape, data: m, owner: optimizer.m))
            moments.append(.init(name: "v." + p.name, shape: p.shape, data: v, owner: optimizer.v))
            let whole = { (crc: String) in [CheckpointMetadata.Shard(trainer: 0, lower: 0, upper: p.count, crc32: crc)] }
            withExtendedLifetime(value) {
                entries.append(.init(name: p.name, file: trainableFile, shape: p.shape, shards: whole(checksum(UnsafeBufferPointer(value.buffer)))))
            }
            withExtendedLifetime(optimizer) {
                entries.append(.init(name: "m." + p.name, file: optimizerFile, shape: p.shape, shards: whole(checksum(m))))
                entries.append(.init(name: "v." + p.name, file: optimizerFile, shape: p.shape, shards: whole(checksum(v))))
            }
            offset += p.count
        }
        let facts = ["stage": state.stage, "step": String(state.step), "format": "pt"]
        try SafeTensorsWriter.write(weights, metadata: facts, to: (folder as NSString).appendingPathComponent(trainableFile))
        try SafeTensorsWriter.write(moments, metadata: facts.merging(["adam_step": String(state.adamStep)]) { a, _ in a },
                                    to: (folder as NSString).appendingPathComponent(optimizerFile))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(state), to: (folder as NSString).appendingPathComponent(stateFile))
        try AtomicFile.write(try encoder.encode(CheckpointMetadata(tensors: entries)), to: (folder as NSString).appendingPathComponent(metadataFile))
    }

    /// Writes DONE into `folder` (synced, the folder too): the checkpoint is complete.
    public static func markDone(_ folder: String) throws {
        try AtomicFile.write(Data("complete\n".utf8), to: (folder as NSString).appendingPathComponent(CheckpointFolder.doneMarker))
    }

    /// Reads a complete checkpoint's state and metadata; refuses a folder without DONE.
    public static func read(_ folder: String) throws -> (state: CheckpointState, metadata: CheckpointMetadata) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw CheckpointError(folder, "no such checkpoint folder")
        }
        guard FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent(CheckpointFolder.doneMarker)) else {
            throw CheckpointError(folder, "has no DONE marker: an interrupted or unfinished save, never loaded")
        }
        func decode<T: Decodable>(_ name: String, as: T.Type) throws -> T {
            let path = (folder as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: path) else { throw CheckpointError(path, "missing") }
            do { return try JSONDecoder().decode(T.self, from: data) } catch let e as DecodingError {
                throw CheckpointError(path, "not readable: \(DecodingProblem(e))")
            }
        }
        let state = try decode(stateFile, as: CheckpointState.self)
        guard state.format == CheckpointState.formatName, state.formatVersion == 1 else {
            throw CheckpointError(folder, "format \(state.format) version \(state.formatVersion) is not \(CheckpointState.formatName) version 1")
        }
        return (state, try decode(metadataFile, as: CheckpointMetadata.self))
    }

    /// Loads the trainable tensors and the optimizer moments of the checkpoint in `folder`
    /// into `optimizer`'s store, every tensor's shape and CRC-32 checked against the metadata;
    /// nothing is changed unless all of it matches.
    public static func load(_ folder: String, metadata: CheckpointMetadata, into optimizer: AdamW) throws {
        let byName = Dictionary(metadata.tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var reader = CheckpointTensors(folder: folder)
        var staged: [(UnsafeMutableBufferPointer<Float>, [Float], AnyObject)] = []
        var offset = 0
        for p in optimizer.store.trainable {
            let targets: [(String, UnsafeMutableBufferPointer<Float>, AnyObject)] = [
                (p.name, p.value.buffer, p.value.storage),
                ("m." + p.name, UnsafeMutableBufferPointer(start: optimizer.m.base + offset, count: p.count), optimizer.m),
                ("v." + p.name, UnsafeMutableBufferPointer(start: optimizer.v.base + offset, count: p.count), optimizer.v),
            ]
            for (name, target, owner) in targets {
                guard let e = byName[name] else { throw CheckpointError(folder, "\(name): not in the checkpoint (another stage or model?)") }
                guard e.shape == p.shape else {
                    throw CheckpointError(folder, "\(name): shape \(e.shape) in the checkpoint, the model's is \(p.shape) (another preset?)")
                }
                staged.append((target, try reader.values(e), owner))
            }
            offset += p.count
        }
        for (target, values, owner) in staged {
            withExtendedLifetime(owner) {
                values.withUnsafeBufferPointer { v in if let s = v.baseAddress { target.baseAddress?.update(from: s, count: v.count) } }
            }
        }
    }
}

/// Reads a checkpoint's tensors, each checked against its metadata entry: the element count
/// of its shape, shards that cover it exactly, and every shard's CRC-32 (a mismatch names the
/// file, the tensor and the elements). Loading, inspection and export all read through it.
struct CheckpointTensors {
    let folder: String
    private var files: [String: SafeTensorsFile] = [:]

    init(folder: String) { self.folder = folder }

    mutating func values(_ e: CheckpointMetadata.Entry) throws -> [Float] {
        let path = (folder as NSString).appendingPathComponent(e.file)
        let file: SafeTensorsFile
        if let f = files[e.file] { file = f } else {
            file = try SafeTensorsFile(path: path)
            files[e.file] = file
        }
        let values = try file.read(e.name)
        let count = e.shape.reduce(1, *)
        guard values.count == count else { throw CheckpointError(path, "\(e.name): \(values.count) elements, the metadata's shape \(e.shape)") }
        var next = 0
        for s in e.shards.sorted(by: { $0.lower < $1.lower }) {
            guard s.lower == next, s.upper > s.lower, s.upper <= count else {
                throw CheckpointError(folder, "\(e.name): shards \(e.shards.map { "\($0.lower)..<\($0.upper)" }) do not cover 0..<\(count)")
            }
            let crc = values[s.lower..<s.upper].withUnsafeBufferPointer { checksum($0) }
            guard crc == s.crc32 else {
                throw CheckpointError(path, "\(e.name): checksum mismatch in elements \(s.lower)..<\(s.upper): the data gives crc32 \(crc), "
                                      + "the metadata records \(s.crc32)")
            }
            next = s.upper
        }
        guard next == count || count == 0 else {
            throw CheckpointError(folder, "\(e.name): shards \(e.shards.map { "\($0.lower)..<\($0.upper)" }) do not cover 0..<\(count)")
        }
        return values
    }
}
