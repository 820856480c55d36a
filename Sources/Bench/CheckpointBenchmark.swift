import Comm
import Foundation
import TensorCore
import TripletData
import Training
import USOModel

/// `uso bench ckpt`: checkpoint saves at a preset's trainable size (flux-dev: USO's 239 M
/// LoRA and 10.8 M projector parameters, with AdamW's moments about 3 GB), allocated without
/// the model's base or any compute, whole and ZeRO-1 sharded over the job's ranks.
///
/// Per mode and round, interleaved: every rank writes a plain file of exactly the bytes of its
/// part of the checkpoint (one sequential write of a buffer, then fsync: the disk's rate for
/// these bytes), then saves its part (`CheckpointPart`: the in-memory copy that blocks
/// training, then the write of the files, each synced), the coordinator completing it. Both
/// start from a barrier. The ratio per rank is the plain write's time over the save's write
/// time, same bytes, same disk, same round. After the rounds the coordinator merges the last
/// checkpoint with `uso ckpt merge` in a child process, whose peak resident memory it reads.
public struct CheckpointBenchmark {
    public struct Row: Sendable {
        public let mode: String
        public let trainers: Int
        /// Per rank: bytes of its part, median seconds of the copy, of the save's write, of the plain write.
        public let bytes: [Int]
        public let copySeconds: [Double]
        public let saveSeconds: [Double]
        public let plainSeconds: [Double]
        /// Per rank: AdamW's state bytes, and the process's peak resident memory so far (VmHWM).
        public let optimizerStateBytes: [Int]
        public let peakResidentBytes: [Int]
        /// The merge of the last checkpoint: seconds, bytes written, the child's peak RSS, the largest tensor.
        public var mergeSeconds = 0.0
        public var mergeBytes = 0
        public var mergePeakBytes = 0
        public var largestTensorBytes = 0
    }

    public let world: Communicator
    public let preset: ModelPreset
    public let folder: String
    public let rounds: Int
    /// The `uso` executable to merge with.
    public let executable: String
    /// Where to leave the last whole-mode checkpoint (nil: removed), for tests of the exports.
    public let keep: String?
    /// Whether to merge the last checkpoint of each mode.
    public let merge: Bool

    public init(world: Communicator, preset: ModelPreset, folder: String, rounds: Int, executable: String, keep: String?, merge: Bool = true) {
        self.world = world; self.preset = preset; self.folder = folder; self.rounds = rounds; self.executable = executable; self.keep = keep
        self.merge = merge
    }

    /// The stage-uso trainable set (LoRA and projector) of `preset`, allocated alone.
    public static func trainableStore(_ preset: ModelPreset, seed: UInt64) throws -> ParameterStore {
        let full = try USOModel(config: preset.config).registry
        let registry = ParameterRegistry()
        for p in full.parameters where p.group == .lora || p.group == .projector {
            _ = registry.make(p.name, p.shape, group: p.group, initializer: p.initializer)
        }
        let store = ParameterStore(registry, seed: seed)
        store.allocateGradients { _ in true }
        return store
    }

    public func run(modes: [Bool]) throws -> [Row] {
        let store = try Self.trainableStore(preset, seed: 7)
        var rows: [Row] = []
        for sharded in modes {
            let partition = StatePartition(total: store.trainableCount, parts: world.size)
            let owned = sharded ? partition.range(of: world.rank) : 0..<store.trainableCount
            let optimizer = AdamW(store: store, hyper: .init(), owned: owned, gradients: sharded ? TensorStorage(count: owned.count) : nil)
            // Moments that are not all zero (their checksums and writes are those of real ones).
            for (k, s) in [optimizer.m, optimizer.v].enumerated() { for i in 0..<s.count { s.base[i] = Float((i &* 2654435761 &+ k) % 1000) * 1e-6 } }
            var copy: [Double] = [], save: [Double] = [], plain: [Double] = []
            var bytes = 0
            let mode = sharded ? "sharded" : "whole"
            var last = ""
            var spare: CheckpointPart?
            for round in 0..<rounds {
                let state = world.rank == 0 ? Self.state(preset: preset, step: round + 1, trainers: world.size, shards: sharded ? world.size : 1) : nil
                // The plain write of the same bytes.
                bytes = CheckpointPart.byteCount(isCoordinator: world.rank == 0, optimizer: optimizer)
                try world.barrier()
                plain.append(try Self.plainWrite(bytes: bytes, to: (folder as NSString).appendingPathComponent("plain.rank_\(world.rank).bin")))
                // The save.
                let path = (folder as NSString).appendingPathComponent("\(mode)/checkpoints/" + CheckpointFolder.name(step: round + 1))
                try world.barrier()
                let t0 = DispatchTime.now().uptimeNanoseconds
                let part = CheckpointPart(trainer: world.rank, state: state, optimizer: optimizer, reusing: spare)
                let t1 = DispatchTime.now().uptimeNanoseconds
                precondition(part.bytes == bytes)
                try part.write(to: path)
                let t2 = DispatchTime.now().uptimeNanoseconds
                try world.barrier()
                if world.rank == 0 { try Checkpoint.complete(path, writers: sharded ? Array(0..<world.size) : [0]) }
                try world.barrier()
                spare = part
                copy.append(Double(t1 - t0) * 1e-9)
                save.append(Double(t2 - t1) * 1e-9)
                if world.rank == 0 && !last.isEmpty { try? FileManager.default.removeItem(atPath: last) }
                last = path
            }
            let gathered = try world.allgather([Double(bytes), median(copy), median(save), median(plain), Double(optimizer.stateBytes),
                                                Double(ProcessMemory.highWaterResidentBytes())])
            var row = Row(mode: mode, trainers: world.size, bytes: gathered.map { Int($0[0]) }, copySeconds: gathered.map { $0[1] },
                          saveSeconds: gathered.map { $0[2] }, plainSeconds: gathered.map { $0[3] },
                          optimizerStateBytes: gathered.map { Int($0[4]) }, peakResidentBytes: gathered.map { Int($0[5]) })
            if world.rank == 0 {
                if merge {
                    let out = (folder as NSString).appendingPathComponent("merged-\(mode).safetensors")
                    (row.mergeSeconds, row.mergePeakBytes) = try Self.timedChild(executable, ["ckpt", "merge", last, "--out", out, "--force"])
                    row.mergeBytes = ((try? FileManager.default.attributesOfItem(atPath: out))?[.size] as? Int) ?? 0
                    row.largestTensorBytes = store.trainable.map(\.count).max()! * 4
                    try? FileManager.default.removeItem(atPath: out)
                }
                if let keep, !sharded {
                    try? FileManager.default.removeItem(atPath: keep)
                    try FileManager.default.moveItem(atPath: last, toPath: keep)
                } else {
                    try? FileManager.default.removeItem(atPath: last)
                }
                try? FileManager.default.removeItem(atPath: (folder as NSString).appendingPathComponent(mode))
            }
            try world.barrier()
            rows.append(row)
        }
        return rows
    }

    static func state(preset: ModelPreset, step: Int, trainers: Int, shards: Int) -> CheckpointState {
        CheckpointState(step: step, cursor: DataCursor(epoch: 0, step: step), seed: 7, adamStep: step, scheduleSteps: 1000, nextLR: 1e-5,
                        rewardMode: "off", rewardStartStep: 0, rewardWeightNow: 0, stage: "uso", preset: preset.rawValue, trainers: trainers,
                        rewardRanks: 0, worldSize: trainers, placement: "tail", configText: "# uso bench ckpt: allocated tensors, no training\n",
                        overrides: [], optimizerShards: shards)
    }

    /// Seconds to write `bytes` bytes sequentially from one buffer into a new file, with fsync.
    static func plainWrite(bytes: Int, to path: String) throws -> Double {
        let chunk = 64 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 64)
        defer { buffer.deallocate() }
        memset(buffer, 0x5A, chunk)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw TrainingError("\(path): cannot create: \(String(cString: strerror(errno)))") }
        defer { close(fd); unlink(path) }
        var done = 0
        while done < bytes {
            let n = Foundation.write(fd, buffer, min(chunk, bytes - done))
            guard n > 0 else { throw TrainingError("\(path): write failed: \(String(cString: strerror(errno)))") }
            done += n
        }
        guard fsync(fd) == 0 else { throw TrainingError("\(path): fsync failed: \(String(cString: strerror(errno)))") }
        return Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
    }

    /// Runs `uso ckpt merge` in a child process to its end: its wall seconds and its own peak
    /// resident bytes, as it reports them (its VmHWM: getrusage's view of a child includes the
    /// parent's memory at the fork).
    static func timedChild(_ executable: String, _ arguments: [String]) throws -> (Double, Int) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for k in env.keys where k.hasPrefix("OMPI_") || k.hasPrefix("PMIX_") { env[k] = nil }   // not an MPI rank
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        let t0 = DispatchTime.now().uptimeNanoseconds
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        guard p.terminationStatus == 0 else { throw TrainingError("\(executable) \(arguments.joined(separator: " ")) failed (status \(p.terminationStatus))") }
        guard let range = text.range(of: "peak memory "), let mb = Double(text[range.upperBound...].prefix { $0.isNumber || $0 == "." }) else {
            throw TrainingError("\(executable) \(arguments.joined(separator: " ")) did not report its peak memory: \(text)")
        }
        return (seconds, Int(mb * 1e6))
    }
}
