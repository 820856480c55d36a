import Comm
import Config
import FlightRecorder
import Foundation
import TensorCore
import USOModel

/// Sums the trainers' gradients (they arrive pre-scaled by 1 / global batch, so the sum is
/// the mean) in buckets of whole parameters over the flat gradient storage.
///
/// With `overlap`, bucket k's non-blocking allreduce starts as soon as every parameter in it
/// has its final gradient (the model reports backward milestones during the last sample's
/// backward), in bucket order, the same on every rank; pending requests are tested at each
/// milestone so MPI makes progress while backward runs. `afterBackward` starts the same
/// buckets after the backward; `single` reduces everything in one call. Reward ranks are
/// never in `communicator`.
///
/// With a `partition` (ZeRO-1, `optim.shard_state`), each bucket is reduce-scattered instead:
/// this trainer receives the summed gradients of its part of the bucket into
/// `ownedGradients` (its slice of the flat vector, contiguous across buckets), and after the
/// optimizer has updated its slice, `gatherWeights` allgathers the updated weights bucket by
/// bucket, each bucket's gather in flight while the next is updated.
public final class GradientSync {
    public let communicator: Communicator
    public let strategy: SyncStrategy
    /// False: no exchange at all (replicas diverge): `uso bench sync`'s baseline only.
    public let exchanges: Bool
    let storage: TensorStorage
    /// Element ranges of the buckets, front to back, and the milestone each waits for.
    public let buckets: [Range<Int>]
    let readyAt: [Int]
    private var started = 0
    private var lastMilestone = -1
    /// Whether repeated milestones (the progress points between a block's products) test the
    /// requests in flight; off, requests are tested only when a new milestone is reached
    /// (`uso bench sync` measures both).
    public var testsAtProgressPoints = true
    private var requests: [Request] = []
    /// Seconds the last `finish` waited for allreduces to complete (the exposed sync time).
    public private(set) var lastExposedSeconds = 0.0
    /// ZeRO-1: how the flat vector is split among the trainers, this trainer's elements, and
    /// their summed gradients once `finish` returns (nil when every trainer reduces everything).
    public let partition: StatePartition?
    public let owned: Range<Int>
    public let ownedGradients: TensorStorage?
    /// The first element of this trainer's own gradients (flat index) found not finite this
    /// step, before the sum: every bucket is checked as it becomes ready ("bucket ready"
    /// spans), before its allreduce starts.
    public private(set) var localNonFinite: Int?
    /// Seconds the last `gatherWeights` waited for its allgathers once every bucket was updated.
    public private(set) var lastGatherSeconds = 0.0

    /// `milestone(p)`: the backward milestone at which p's gradient is final.
    /// `shardState`: ZeRO-1 (with more than one trainer and the exchange on).
    public init(communicator: Communicator, store: ParameterStore, strategy: SyncStrategy, exchanges: Bool = true, bucketBytes: Int,
                shardState: Bool = false, milestone: (Parameter) -> Int) {
        self.communicator = communicator
        if shardState && exchanges && communicator.size > 1 {
            let partition = StatePartition(total: store.trainableCount, parts: communicator.size)
            self.partition = partition
            owned = partition.range(of: communicator.rank)
            ownedGradients = TensorStorage(count: owned.count)
        } else {
            partition = nil
            owned = 0..<store.trainableCount
            ownedGradients = nil
        }
        self.strategy = strategy
        self.exchanges = exchanges
        storage = store.gradients
        var ranges: [Range<Int>] = [], ready: [Int] = []
        var start = 0, offset = 0, maxMilestone = 0
        let limit = max(1, bucketBytes / 4)
        for p in store.trainable {
            offset += p.count
            maxMilestone = max(maxMilestone, milestone(p))
            if offset - start >= limit {
                ranges.append(start..<offset)
                ready.append(maxMilestone)
                start = offset
                maxMilestone = 0
            }
        }
        if offset > start {
            ranges.append(start..<offset)
            ready.append(maxMilestone)
        }
        if strategy == .single { ranges = offset > 0 ? [0..<offset] : []; ready = [Int.max] }
        buckets = ranges
        readyAt = ready
    }

    /// Starts a step: no bucket is in flight.
    public func beginStep() {
        started = 0
        lastMilestone = -1
        localNonFinite = nil
        requests.removeAll(keepingCapacity: true)
    }

    /// During the last sample's backward: starts every bucket whose gradients are final by
    /// `milestone`, in order, and tests those in flight. The model also calls it between the
    /// larger products of a block with the milestone it has reached (nothing new starts then),
    /// so that MPI progresses a bucket's protocol steps while backward computes: Open MPI
    /// moves a non-blocking collective on only inside MPI calls.
    public func reached(milestone: Int) throws {
        guard strategy == .overlap, exchanges, communicator.size > 1 else { return }
        if milestone == lastMilestone && !testsAtProgressPoints { return }
        lastMilestone = milestone
        while started < buckets.count && readyAt[started] <= milestone {
            try start(started)
            started += 1
        }
        for r in requests where !r.isComplete { try r.test() }
    }

    /// Bucket k's gradients are final: checks them for NaN or infinity (this trainer's own,
    /// before the sum), recorded as the bucket's "bucket ready" span.
    private func checkReady(_ k: Int) {
        let r = buckets[k]
        let span = FlightRecorder.shared.begin(.bucketReady, .compute, sequence: Int64(k), bytes: Int64(r.count * 4))
        if localNonFinite == nil {
            withExtendedLifetime(storage) {
                let g = storage.base + r.lowerBound
                if !ElementwiseKernels.allFinite(r.count, g) { localNonFinite = (0..<r.count).first { !g[$0].isFinite }.map { r.lowerBound + $0 } }
            }
        }
        FlightRecorder.shared.end(span)
    }

    private func start(_ k: Int) throws {
        checkReady(k)
        let r = buckets[k]
        if let partition, let ownedGradients {
            // This trainer's part of bucket k lands at its place in the owned slice.
            let mine = r.clamped(to: owned)
            let at = mine.isEmpty ? 0 : mine.lowerBound - owned.lowerBound
            requests.append(try communicator.ireduceScatter(UnsafeBufferPointer(start: storage.base + r.lowerBound, count: r.count),
                                                            into: UnsafeMutableBufferPointer(start: ownedGradients.base + at, count: mine.count),
                                                            counts: partition.counts(in: r), op: .sum,
                                                            keepingAlive: KeptAlive(storage, ownedGradients)))
        } else {
            requests.append(try communicator.iallreduce(unsafeInPlace: UnsafeMutableBufferPointer(start: storage.base + r.lowerBound, count: r.count),
                                                        op: .sum, keepingAlive: storage))
        }
    }

    /// After the backward: starts what has not started and waits for everything.
    public func finish() throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        if communicator.size > 1 && exchanges {
            while started < buckets.count {
                try start(started)
                started += 1
            }
            // The exposed part of the sync: what the step waits for once the backward is done.
            let since = FlightRecorder.now()
            try Request.waitAll(requests)
            FlightRecorder.shared.record(.syncWait, .compute, since: since, bytes: Int64(storage.count * 4))
        } else {
            for k in buckets.indices { checkReady(k) }
        }
        lastExposedSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
    }
}

extension GradientSync {
    /// ZeRO-1, after `finish`: updates this trainer's slice bucket by bucket with `update`
    /// (given the flat span to update), writes the updated weights into the flat gradient
    /// storage at their place and starts that bucket's allgather, so the gathers run while
    /// later buckets are updated; then copies every gathered weight into its parameter. The
    /// gradient storage holds weights afterwards (it is zeroed at the next step's start).
    public func gatherWeights(store: ParameterStore, offsets: [Int], update: (Range<Int>) -> Void) throws {
        guard let partition else {
            update(owned)
            return
        }
        var gathers: [Request] = []
        for r in buckets {
            let mine = r.clamped(to: owned)
            update(mine)
            for (i, p) in store.trainable.enumerated() {
                let piece = (offsets[i]..<(offsets[i] + p.count)).clamped(to: mine)
                guard !piece.isEmpty else { continue }
                withExtendedLifetime(p.value) {
                    (storage.base + piece.lowerBound).update(from: p.data + (piece.lowerBound - offsets[i]), count: piece.count)
                }
            }
            gathers.append(try communicator.iallgather(unsafeInPlace: UnsafeMutableBufferPointer(start: storage.base + r.lowerBound, count: r.count),
                                                       counts: partition.counts(in: r), keepingAlive: storage))
            for g in gathers where !g.isComplete { try g.test() }
        }
        let t0 = DispatchTime.now().uptimeNanoseconds
        try Request.waitAll(gathers)
        FlightRecorder.shared.record(.syncWait, .compute, since: t0)
        lastGatherSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        for (i, p) in store.trainable.enumerated() {
            withExtendedLifetime(p.value) { p.data.update(from: storage.base + offsets[i], count: p.count) }
        }
    }
}

/// Keeps two objects alive for as long as a request needs their memory.
final class KeptAlive {
    let first: AnyObject, second: AnyObject
    init(_ first: AnyObject, _ second: AnyObject) { self.first = first; self.second = second }
}
