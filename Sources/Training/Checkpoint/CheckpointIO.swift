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
    /// Writes a whole checkpoint of a single process (`optimizer` owning every element) into
    /// `folder`, DONE included: `CheckpointPart` and `complete` in one call.
    public static func write(_ state: CheckpointState, optimizer: AdamW, to folder: String) throws {
        try CheckpointPart(trainer: 0, state: state, optimizer: optimizer).write(to: folder)
        try complete(folder, writers: [0])
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
    /// nothing is changed unless all of it matches. The moments may come whole or in any
    /// trainers' shards and go to whichever slice `optimizer` owns: a resume at another world
    /// size or with sharding switched reads the same state.
    public static func load(_ folder: String, metadata: CheckpointMetadata, into optimizer: AdamW) throws {
        let byName = Dictionary(metadata.tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var reader = CheckpointTensors(folder: folder)
        // (target, values, the values' first element to copy, owner)
        var staged: [(UnsafeMutableBufferPointer<Float>, [Float], Int, AnyObject)] = []
        let names = Set(optimizer.store.trainable.map(\.name))
        if let stray = metadata.tensors.first(where: { $0.file == trainableFile && !names.contains($0.name) }) {
            throw CheckpointError(folder, "\(stray.name): trained in the checkpoint but not by this stage's model (another stage or model?)")
        }
        for (i, p) in optimizer.store.trainable.enumerated() {
            let offset = optimizer.offsets[i]
            let piece = (offset..<(offset + p.count)).clamped(to: optimizer.owned)
            let at = piece.isEmpty ? 0 : piece.lowerBound - optimizer.owned.lowerBound
            let targets: [(String, UnsafeMutableBufferPointer<Float>, Int, AnyObject)] = [
                (p.name, p.value.buffer, 0, p.value.storage),
                ("m." + p.name, UnsafeMutableBufferPointer(start: optimizer.m.base + at, count: piece.count), piece.lowerBound - offset, optimizer.m),
                ("v." + p.name, UnsafeMutableBufferPointer(start: optimizer.v.base + at, count: piece.count), piece.lowerBound - offset, optimizer.v),
            ]
            for (name, target, first, owner) in targets {
                guard let e = byName[name] else { throw CheckpointError(folder, "\(name): not in the checkpoint (another stage or model?)") }
                guard e.shape == p.shape else {
                    throw CheckpointError(folder, "\(name): shape \(e.shape) in the checkpoint, the model's is \(p.shape) (another preset?)")
                }
                staged.append((target, try reader.values(e), first, owner))
            }
        }
        for (target, values, first, owner) in staged {
            withExtendedLifetime(owner) {
                values.withUnsafeBufferPointer { v in
                    if let s = v.baseAddress, target.count > 0 { target.baseAddress?.update(from: s + first, count: target.count) }
                }
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

    private mutating func file(_ name: String) throws -> SafeTensorsFile {
        if let f = files[name] { return f }
        let f = try SafeTensorsFile(path: (folder as NSString).appendingPathComponent(name))
        files[name] = f
        return f
    }

    /// The whole tensor of entry `e`, assembled from its shards (each read from its file and
    /// checked) in element order.
    mutating func values(_ e: CheckpointMetadata.Entry) throws -> [Float] {
        let count = e.shape.reduce(1, *)
        let shards = e.shards.sorted(by: { $0.lower < $1.lower })
        let covering = { "shards \(e.shards.map { "\($0.lower)..<\($0.upper)" }) do not cover 0..<\(count)" }
        var values = [Float](repeating: 0, count: count)
        var next = 0
        for s in shards {
            guard s.lower == next, s.upper > s.lower, s.upper <= count else { throw CheckpointError(folder, "\(e.name): " + covering()) }
            let name = s.file ?? e.file
            let path = (folder as NSString).appendingPathComponent(name)
            let f = try file(name)
            let stored = try f.entry(e.name)
            guard stored.count == s.upper - s.lower else {
                throw CheckpointError(path, "\(e.name): \(stored.count) elements, the metadata's " + (s.file == nil ? "shape \(e.shape)" : "shard \(s.lower)..<\(s.upper)"))
            }
            try values.withUnsafeMutableBufferPointer { b in
                let part = UnsafeMutableBufferPointer(rebasing: b[s.lower..<s.upper])
                try f.read(e.name, into: part)
                let crc = checksum(UnsafeBufferPointer(part))
                guard crc == s.crc32 else {
                    throw CheckpointError(path, "\(e.name): checksum mismatch in elements \(s.lower)..<\(s.upper): the data gives crc32 \(crc), "
                                          + "the metadata records \(s.crc32)")
                }
            }
            next = s.upper
        }
        guard next == count || count == 0 else { throw CheckpointError(folder, "\(e.name): " + covering()) }
        return values
    }
}
