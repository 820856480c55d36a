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
    /// on the other trainers, which write only their optimizer shard, if any). `reusing` a
    /// written part of the same sizes, its memory is copied into instead of new memory (whose
    /// first touch costs more than the copy).
    public init(trainer: Int, state: CheckpointState?, optimizer: AdamW, reusing spare: CheckpointPart? = nil) {
        self.trainer = trainer
        self.state = state
        owned = optimizer.owned
        var parameters: [(name: String, shape: [Int], offset: Int, count: Int)] = []
        for (i, p) in optimizer.store.trainable.enumerated() {
            parameters.append((p.name, p.shape, optimizer.offsets[i], p.count))
        }
        self.parameters = parameters
        func storage(_ old: TensorStorage?, _ count: Int) -> TensorStorage {
            if let old, old.count == count { return old }
            return TensorStorage(count: count)
        }
        if state != nil {
            let w = storage(spare?.weights, optimizer.store.trainableCount)
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
            let mc = storage(spare?.m, n), vc = storage(spare?.v, n)
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

    /// The bytes a part of `optimizer`'s state holds: the weights on the coordinator, the
    /// moments on the coordinator (whole) or on every trainer (sharded).
    public static func byteCount(isCoordinator: Bool, optimizer: AdamW) -> Int {
        (isCoordinator ? optimizer.store.trainableCount * 4 : 0) + (!optimizer.ownsAll || isCoordinator ? optimizer.owned.count * 8 : 0)
    }

    /// Whether this part writes anything (a trainer of an unsharded run writes nothing).
    public var isEmpty: Bool { weights == nil && m == nil }

    /// Writes the part's files into `folder` (created), each through a temporary name,
    /// synced and renamed, its metadata entries last. The CRC-32s are computed on a helper
    /// thread while the files are written.
    public func write(to folder: String) throws {
        guard !isEmpty else { return }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var entries: [CheckpointMetadata.Entry] = []
        var files: [(name: String, items: [SafeTensorsWriter.Item], metadata: [String: String])] = []
        let crcs = ChecksumJob()
        let facts = ["stage": state?.stage ?? "", "format": "pt"]
        if let weights, let state {
            var items: [SafeTensorsWriter.Item] = []
            for p in parameters {
                let values = UnsafeBufferPointer(start: weights.base + p.offset, count: p.count)
                items.append(.init(name: p.name, shape: p.shape, data: values, owner: weights))
                crcs.add(values)
                entries.append(.init(name: p.name, file: Checkpoint.trainableFile, shape: p.shape,
                                     shards: [.init(trainer: trainer, lower: 0, upper: p.count, crc32: "")]))
            }
            files.append((Checkpoint.trainableFile, items, facts.merging(["step": String(state.step)]) { a, _ in a }))
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
                    crcs.add(values)
                    entries.append(.init(name: prefix + p.name, file: Checkpoint.optimizerFile, shape: p.shape,
                                         shards: [.init(trainer: trainer, lower: inParameter, upper: inParameter + piece.count, crc32: "",
                                                        file: whole ? nil : momentsFile)]))
                }
            }
            files.append((momentsFile, items, facts.merging(["trainer": String(trainer), "elements": "\(owned.lowerBound)..<\(owned.upperBound)"]) { a, _ in a }))
        }
        // The checksums on a helper thread, the writes here; this part's memory outlives both.
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { withExtendedLifetime(self) { crcs.run() } }
        var failure: Error?
        do {
            for f in files { try SafeTensorsWriter.write(f.items, metadata: f.metadata, to: (folder as NSString).appendingPathComponent(f.name)) }
        } catch { failure = error }
        group.wait()
        if let failure { throw failure }
        for k in entries.indices { entries[k].shards[0].crc32 = crcs.results[k] }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        if let state {
            try AtomicFile.write(try encoder.encode(state), to: (folder as NSString).appendingPathComponent(Checkpoint.stateFile))
        }
        try AtomicFile.write(try encoder.encode(CheckpointMetadata(tensors: entries)),
                             to: (folder as NSString).appendingPathComponent(Checkpoint.metadataPieceFile(trainer: trainer)))
    }
}

/// The CRC-32s of a list of buffers, computed in one go on whichever thread runs it (the
/// buffers' owner keeps them alive meanwhile).
final class ChecksumJob: @unchecked Sendable {   // filled before `run`, read after it
    private var buffers: [UnsafeBufferPointer<Float>] = []
    private(set) var results: [String] = []
    func add(_ b: UnsafeBufferPointer<Float>) { buffers.append(b) }
    func run() { results = buffers.map { checksum($0) } }
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
