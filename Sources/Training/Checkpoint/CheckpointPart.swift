import Foundation
import SafeTensors
import TensorCore
import TripletData
import USOModel

/// What one trainer writes into a checkpoint, copied out of the live state when the save
/// starts so that training can go on changing it while the copy is written (in the
/// background or not).
///
/// The coordinator's part holds the trainable tensors (whole: every trainer has the same),
/// `state.json`, and AdamW's moments unless they are sharded; with ZeRO-1 every trainer's
/// part holds the moments of its slice, `optimizer.trainer_RR.safetensors`, one 1-D tensor
/// per piece of a parameter (`m.<name>`, `v.<name>`) whose element range the metadata gives.
/// Each part also writes `metadata.trainer_RR.json`, its entries with their CRC-32s, which
/// the coordinator merges into `metadata.json` once every part is on disk (`complete`).
public final class CheckpointPart: @unchecked Sendable {   // immutable once made; its copies are its own
    public let trainer: Int
    let state: CheckpointState?
    /// Copies: the trainable weights (flat, gradient order) and this trainer's moments.
    let weights: TensorStorage?
    let m: TensorStorage?, v: TensorStorage?
    let owned: Range<Int>
    let parameters: [(name: String, shape: [Int], offset: Int, count: Int)]
    let momentsFile: String
    /// The bytes this part writes.
    public let bytes: Int

    /// Copies this trainer's share of `optimizer`'s state; `state` is the coordinator's (nil
    /// on the other trainers, which write only their optimizer shard, if any).
    public init(trainer: Int, state: CheckpointState?, optimizer: AdamW) {
        self.trainer = trainer
        self.state = state
        owned = optimizer.owned
        var parameters: [(name: String, shape: [Int], offset: Int, count: Int)] = []
        for (i, p) in optimizer.store.trainable.enumerated() {
            parameters.append((p.name, p.shape, optimizer.offsets[i], p.count))
        }
        self.parameters = parameters
        if state != nil {
            let w = TensorStorage(count: optimizer.store.trainableCount)
            for (i, p) in optimizer.store.trainable.enumerated() {
                withExtendedLifetime(p.value) { (w.base + optimizer.offsets[i]).update(from: p.data, count: p.count) }
            }
            weights = w
        } else {
            weights = nil
        }
        let writesMoments = !optimizer.ownsAll || state != nil
        momentsFile = optimizer.ownsAll ? Checkpoint.optimizerFile : Checkpoint.optimizerShardFile(trainer: trainer)
        if writesMoments {
            let n = optimizer.owned.count
            let mc = TensorStorage(count: n), vc = TensorStorage(count: n)
            withExtendedLifetime(optimizer) {
                mc.base.update(from: optimizer.m.base, count: n)
                vc.base.update(from: optimizer.v.base, count: n)
            }
            m = mc
            v = vc
        } else {
            m = nil
            v = nil
        }
        bytes = ((weights?.count ?? 0) + (m?.count ?? 0) + (v?.count ?? 0)) * 4
    }

    /// Whether this part writes anything (a trainer of an unsharded run writes nothing).
    public var isEmpty: Bool { weights == nil && m == nil }

    /// Writes the part's files into `folder` (created), each through a temporary name,
    /// synced and renamed, its metadata entries last.
    public func write(to folder: String) throws {
        guard !isEmpty else { return }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var entries: [CheckpointMetadata.Entry] = []
        let facts = ["stage": state?.stage ?? "", "format": "pt"]
        if let weights, let state {
            var items: [SafeTensorsWriter.Item] = []
            for p in parameters {
                let values = UnsafeBufferPointer(start: weights.base + p.offset, count: p.count)
                items.append(.init(name: p.name, shape: p.shape, data: values, owner: weights))
                entries.append(.init(name: p.name, file: Checkpoint.trainableFile, shape: p.shape,
                                     shards: [.init(trainer: trainer, lower: 0, upper: p.count, crc32: withExtendedLifetime(weights) { checksum(values) })]))
            }
            try SafeTensorsWriter.write(items, metadata: facts.merging(["step": String(state.step)]) { a, _ in a },
                                        to: (folder as NSString).appendingPathComponent(Checkpoint.trainableFile))
        }
        if let m, let v {
            var items: [SafeTensorsWriter.Item] = []
            let whole = owned.count == parameters.reduce(0) { $0 + $1.count }
            for p in parameters {
                let piece = (p.offset..<(p.offset + p.count)).clamped(to: owned)
                guard !piece.isEmpty else { continue }
                let at = piece.lowerBound - owned.lowerBound, inParameter = piece.lowerBound - p.offset
                for (prefix, storage) in [("m.", m), ("v.", v)] {
                    let values = UnsafeBufferPointer(start: storage.base + at, count: piece.count)
                    // Whole moments keep their tensor's shape; a shard's pieces are flat.
                    items.append(.init(name: prefix + p.name, shape: whole ? p.shape : [piece.count], data: values, owner: storage))
                    let crc = withExtendedLifetime(storage) { checksum(values) }
                    entries.append(.init(name: prefix + p.name, file: Checkpoint.optimizerFile, shape: p.shape,
                                         shards: [.init(trainer: trainer, lower: inParameter, upper: inParameter + piece.count, crc32: crc,
                                                        file: whole ? nil : momentsFile)]))
                }
            }
            try SafeTensorsWriter.write(items, metadata: facts.merging(["trainer": String(trainer), "elements": "\(owned.lowerBound)..<\(owned.upperBound)"]) { a, _ in a },
                                        to: (folder as NSString).appendingPathComponent(momentsFile))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        if let state {
            try AtomicFile.write(try encoder.encode(state), to: (folder as NSString).appendingPathComponent(Checkpoint.stateFile))
        }
        try AtomicFile.write(try encoder.encode(CheckpointMetadata(tensors: entries)),
                             to: (folder as NSString).appendingPathComponent(Checkpoint.metadataPieceFile(trainer: trainer)))
    }
}

extension Checkpoint {
    /// Trainer r's optimizer shard under ZeRO-1.
    public static func optimizerShardFile(trainer: Int) -> String { String(format: "optimizer.trainer_%02d.safetensors", trainer) }
    /// Trainer r's metadata entries, until the coordinator merges them into metadata.json.
    static func metadataPieceFile(trainer: Int) -> String { String(format: "metadata.trainer_%02d.json", trainer) }

    /// The coordinator, once every trainer's part is on disk: merges the parts' metadata
    /// (`writers`: the trainers that wrote one) into `metadata.json`, removes the pieces, and
    /// writes DONE. A tensor's shards must cover it; nothing is marked done otherwise.
    public static func complete(_ folder: String, writers: [Int]) throws {
        var merged: [String: CheckpointMetadata.Entry] = [:], order: [String] = []
        for r in writers {
            let path = (folder as NSString).appendingPathComponent(metadataPieceFile(trainer: r))
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CheckpointError(path, "missing: trainer \(r)'s part of the checkpoint was not written")
            }
            let piece: CheckpointMetadata
            do { piece = try JSONDecoder().decode(CheckpointMetadata.self, from: data) } catch {
                throw CheckpointError(path, "not readable: \(error)")
            }
            for e in piece.tensors {
                if merged[e.name] == nil { order.append(e.name); merged[e.name] = e } else { merged[e.name]!.shards += e.shards }
            }
        }
        var tensors: [CheckpointMetadata.Entry] = []
        for name in order {
            var e = merged[name]!
            e.shards.sort { $0.lower < $1.lower }
            let count = e.shape.reduce(1, *)
            var next = 0
            for s in e.shards where s.lower == next { next = s.upper }
            guard next == count else {
                throw CheckpointError(folder, "\(name): the trainers' shards \(e.shards.map { "\($0.lower)..<\($0.upper)" }) do not cover 0..<\(count)")
            }
            tensors.append(e)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(CheckpointMetadata(tensors: tensors)), to: (folder as NSString).appendingPathComponent(metadataFile))
        for r in writers { try? FileManager.default.removeItem(atPath: (folder as NSString).appendingPathComponent(metadataPieceFile(trainer: r))) }
        try markDone(folder)
    }
}
