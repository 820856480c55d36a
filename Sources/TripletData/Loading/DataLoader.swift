import Foundation
import TensorCore

/// One sample as training reads it: images as float (3, S, S) in [-1, 1], channel-major.
/// Objects are reused from step to step: a sample is valid until the loader's next `next()`.
public final class LoadedSample {
    public internal(set) var position = 0
    public internal(set) var sampleID: Int64 = 0
    public internal(set) var prompt = ""
    public internal(set) var subjectID: Int32 = -1
    public internal(set) var styleID: Int32 = -1
    public internal(set) var layout: LayoutFlag = .none
    public internal(set) var split: Split = .train
    public internal(set) var dropout = ConditionDropout.decide(seed: 0, sampleID: 0, epoch: 0, p: 0)
    /// (3, S, S) each.
    public let target: Tensor
    public let styleReference: Tensor
    public let contentReference: Tensor
    /// Whether the references are present (in the shard and not dropped).
    public internal(set) var hasStyleReference = false
    public internal(set) var hasContentReference = false

    init(resolution s: Int) {
        target = Tensor(zeros: [3, s, s]); styleReference = Tensor(zeros: [3, s, s]); contentReference = Tensor(zeros: [3, s, s])
    }
}

/// What the loader knows of a sample before reading its images: enough to estimate what
/// it costs to train on (its token counts), for balancing trainers.
public struct SampleOutline: Sendable {
    public let sampleID: Int64
    public let epoch: Int
    public let prompt: String
    /// Whether the references are present (in the shard and not dropped).
    public let hasStyleReference: Bool
    public let hasContentReference: Bool
}

/// The samples of one step for one trainer.
public struct LoadedBatch {
    public let cursor: DataCursor
    public let samples: ArraySlice<LoadedSample>
}

/// Reads a trainer's share of every step ahead of time on a background thread, so training
/// rarely waits: `depth` steps are prepared while the current one trains. Condition dropout
/// is applied as it loads. Shards are opened (and their checksums verified) on first use.
/// HDF5 calls are serialised by HDF5Kit's lock, so the main thread may use HDF5 meanwhile.
public final class DataLoader: @unchecked Sendable {
    public let index: SampleIndex
    public let plan: ShardPlan
    public let trainer: Int, trainers: Int
    public let dropoutProbability: Double
    public let seed: UInt64
    /// When set (and there is more than one trainer), each step's global batch is split so
    /// that the trainers' summed costs are even (`ShardPlan.balancedSlice`) instead of in
    /// contiguous slices: trainers then reach the gradient sync together.
    public let cost: (@Sendable (SampleOutline) -> Double)?
    let resolution: Int
    let depth: Int
    /// Seconds `next()` spent waiting for data, in total and in the last call.
    public private(set) var waitSeconds = 0.0
    public private(set) var lastWaitSeconds = 0.0

    private let condition = NSCondition()
    private var slots: [[LoadedSample]]
    private var ready: [(DataCursor, Int, Int)] = []   // (cursor, slot, count)
    private var freeSlots: [Int]
    private var inUse: Int?
    private var failure: Error?
    private var stopping = false
    private var thread: Thread?
    private var readers: [Int: ShardReader] = [:]
    private let pixels: UnsafeMutableBufferPointer<UInt8>

    /// `dropoutProbability` 0 turns condition dropout off (evaluation).
    public init(index: SampleIndex, plan: ShardPlan, trainer: Int, trainers: Int, seed: UInt64,
                dropoutProbability: Double = 0.25, depth: Int = 2, cost: (@Sendable (SampleOutline) -> Double)? = nil) {
        precondition(plan.count == index.count, "the plan covers \(plan.count) samples, the index \(index.count)")
        self.index = index
        self.plan = plan
        self.trainer = trainer
        self.trainers = trainers
        self.seed = seed
        self.dropoutProbability = dropoutProbability
        self.cost = cost
        self.depth = max(1, depth)
        resolution = index.manifest.resolution
        let perStep = (plan.globalBatch + trainers - 1) / trainers
        slots = (0...self.depth).map { _ in (0..<perStep).map { _ in LoadedSample(resolution: index.manifest.resolution) } }
        freeSlots = Array(slots.indices)
        pixels = UnsafeMutableBufferPointer.allocate(capacity: resolution * resolution * 3)
    }

    deinit {
        stop()
        pixels.deallocate()
    }

    /// Starts loading at `cursor` (a fresh run starts at epoch 0, step 0; a resumed one where it stopped).
    public func start(at cursor: DataCursor = DataCursor()) {
        precondition(thread == nil, "the loader is already running")
        let t = Thread { [unowned self] in self.produce(from: cursor) }
        t.name = "uso-data-loader"
        thread = t
        t.start()
    }

    /// The next step's samples; blocks until they are loaded. The previous batch's samples
    /// become invalid. Throws the error that stopped loading (a bad shard names its file).
    public func next() throws -> LoadedBatch {
        let started = DispatchTime.now().uptimeNanoseconds
        condition.lock()
        defer { condition.unlock() }
        if let used = inUse {
            freeSlots.append(used)
            inUse = nil
            condition.broadcast()
        }
        while ready.isEmpty && failure == nil { condition.wait() }
        if ready.isEmpty, let failure { throw failure }
        let (cursor, slot, count) = ready.removeFirst()
        inUse = slot
        lastWaitSeconds = Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9
        waitSeconds += lastWaitSeconds
        return LoadedBatch(cursor: cursor, samples: slots[slot][0..<count])
    }

    /// Stops the background thread (after its current sample).
    public func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        while let t = thread, t.isExecuting { usleep(200) }
        thread = nil
    }

    /// Fault injection for tests: USO_FAULT_DATA_DELAY=TRAINER:BATCH:SECONDS makes that
    /// trainer's loader take SECONDS longer over its BATCH-th batch (counted from its start),
    /// as a slow filesystem would.
    private lazy var faultDelay: (batch: Int, seconds: Double)? = {
        let f = ProcessInfo.processInfo.environment["USO_FAULT_DATA_DELAY"]?.split(separator: ":").compactMap { Double($0) } ?? []
        guard f.count == 3, Int(f[0]) == trainer else { return nil }
        return (Int(f[1]), f[2])
    }()

    private func produce(from start: DataCursor) {
        var cursor = start
        var permutation = plan.permutation(epoch: cursor.epoch)
        var produced = 0
        while true {
            condition.lock()
            while freeSlots.isEmpty && !stopping { condition.wait() }
            if stopping { condition.unlock(); return }
            let slot = freeSlots.removeFirst()
            condition.unlock()
            do {
                let positions = try positionsOf(permutation, cursor: cursor)
                for (k, position) in positions.enumerated() {
                    try load(position, epoch: cursor.epoch, into: slots[slot][k])
                }
                if let d = faultDelay, d.batch == produced { usleep(UInt32(d.seconds * 1e6)) }
                produced += 1
                condition.lock()
                ready.append((cursor, slot, positions.count))
                condition.broadcast()
                condition.unlock()
            } catch {
                condition.lock()
                failure = error
                condition.broadcast()
                condition.unlock()
                return
            }
            let nextCursor = plan.advance(cursor)
            if nextCursor.epoch != cursor.epoch { permutation = plan.permutation(epoch: nextCursor.epoch) }
            cursor = nextCursor
        }
    }

    /// This trainer's sample positions at `cursor`: a contiguous slice, or a cost-balanced share.
    private func positionsOf(_ permutation: [Int], cursor: DataCursor) throws -> [Int] {
        guard let cost, trainers > 1 else { return plan.samples(permutation, step: cursor.step, trainer: trainer, of: trainers) }
        let range = plan.batchRange(step: cursor.step)
        var costs: [Int: Double] = [:]
        for k in range { costs[k] = cost(try outline(permutation[k], epoch: cursor.epoch)) }
        return ShardPlan.balancedSlice(range, trainer: trainer, of: trainers) { costs[$0]! }.map { permutation[$0] }
    }

    /// A sample's ids, prompt and references after dropout, from its shard's metadata (no image is read).
    func outline(_ position: Int, epoch: Int) throws(TripletDataError) -> SampleOutline {
        let (shard, row) = index.locations[position]
        let r = try reader(shard)
        let id = r.sampleIDs[row]
        let dropout = ConditionDropout.decide(seed: seed, sampleID: id, epoch: epoch, p: dropoutProbability)
        let triplet = r.kind == .triplets
        return SampleOutline(sampleID: id, epoch: epoch, prompt: r.prompts[row],
                             hasStyleReference: triplet && r.references[row] & 2 != 0 && !dropout.dropStyle,
                             hasContentReference: triplet && r.references[row] & 1 != 0 && !dropout.dropContent)
    }

    private func reader(_ shard: Int) throws(TripletDataError) -> ShardReader {
        if let r = readers[shard] { return r }
        // The index verified the data when it was built; the manifest checks run again here.
        let r = try index.manifest.openShard(shard, manifestPath: index.manifestPath, verifyData: false)
        readers[shard] = r
        return r
    }

    private func load(_ position: Int, epoch: Int, into s: LoadedSample) throws(TripletDataError) {
        let (shard, row) = index.locations[position]
        let r = try reader(shard)
        s.position = position
        s.sampleID = r.sampleIDs[row]
        s.prompt = r.prompts[row]
        s.subjectID = r.subjectIDs[row]
        s.styleID = r.styleIDs[row]
        s.layout = r.layouts[row]
        s.split = r.splits[row]
        s.dropout = ConditionDropout.decide(seed: seed, sampleID: s.sampleID, epoch: epoch, p: dropoutProbability)
        try readImage(r, "target", row, into: s.target)
        let triplet = r.kind == .triplets
        s.hasStyleReference = triplet && r.references[row] & 2 != 0 && !s.dropout.dropStyle
        s.hasContentReference = triplet && r.references[row] & 1 != 0 && !s.dropout.dropContent
        if s.hasStyleReference { try readImage(r, "style_reference", row, into: s.styleReference) }
        if s.hasContentReference { try readImage(r, "content_reference", row, into: s.contentReference) }
    }

    /// uint8 (S, S, 3) -> float (3, S, S) in [-1, 1].
    private func readImage(_ r: ShardReader, _ name: String, _ row: Int, into t: Tensor) throws(TripletDataError) {
        try r.readImage(name, index: row, into: pixels)
        let plane = resolution * resolution
        let out = t.data
        for i in 0..<plane {
            out[i] = Float(pixels[3 * i]) / 127.5 - 1
            out[plane + i] = Float(pixels[3 * i + 1]) / 127.5 - 1
            out[2 * plane + i] = Float(pixels[3 * i + 2]) / 127.5 - 1
        }
    }
}
