import Comm
import Config
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

    /// `milestone(p)`: the backward milestone at which p's gradient is final.
    public init(communicator: Communicator, store: ParameterStore, strategy: SyncStrategy, exchanges: Bool = true, bucketBytes: Int,
                milestone: (Parameter) -> Int) {
        self.communicator = communicator
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

    private func start(_ k: Int) throws {
        let r = buckets[k]
        requests.append(try communicator.iallreduce(unsafeInPlace: UnsafeMutableBufferPointer(start: storage.base + r.lowerBound, count: r.count),
                                                    op: .sum, keepingAlive: storage))
    }

    /// After the backward: starts what has not started and waits for everything.
    public func finish() throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        if communicator.size > 1 && exchanges {
            while started < buckets.count {
                try start(started)
                started += 1
            }
            try Request.waitAll(requests)
        }
        lastExposedSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
    }
}
