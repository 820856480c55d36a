import TensorCore

/// Where training stands in the data: epoch and step within it.
public struct DataCursor: Sendable, Codable, Equatable {
    public var epoch: Int
    public var step: Int
    public init(epoch: Int = 0, step: Int = 0) { self.epoch = epoch; self.step = step }
}

/// The coordinator's plan of which samples each trainer reads at each step.
///
/// Per (seed, epoch): a permutation of the set's samples. Step s of an epoch takes the next
/// `globalBatch` samples of the permutation (the last step of an epoch takes what is left),
/// split into contiguous per-trainer slices whose sizes differ by at most one. Every sample
/// is read exactly once per epoch at any number of trainers, and the global order does not
/// depend on the number of trainers, so a run resumed at another world size reads the same
/// samples in the same order. Everything is a pure function of (seed, epoch, step): any rank
/// computes any part of the plan without talking.
///
/// With a `Grouping` (stage csd's `csd.images_per_style`), the permutation is rearranged so
/// that the samples come in groups of `size` with one label each: a contrastive loss then
/// finds positives in every batch instead of hoping for them (P labels x K images per batch,
/// as metric-learning samplers draw them).
public struct ShardPlan: Sendable {
    /// Labels to group by, and how many samples of one label come together.
    public struct Grouping: Sendable, Equatable {
        /// The label of each position (-1: none; such samples are never grouped).
        public let labels: [Int32]
        /// Samples of one label per group (1: no grouping).
        public let size: Int
        public init(labels: [Int32], size: Int) {
            precondition(size >= 1, "a group holds at least one sample")
            self.labels = labels
            self.size = size
        }
    }

    public let seed: UInt64
    /// Samples in the set (positions 0 ..< count of `SampleIndex`).
    public let count: Int
    public let globalBatch: Int
    public let grouping: Grouping?

    public init(seed: UInt64, count: Int, globalBatch: Int, grouping: Grouping? = nil) {
        precondition(count >= 1 && globalBatch >= 1, "a plan needs samples and a batch size")
        precondition(grouping.map { $0.labels.count == count } ?? true, "the grouping labels \(grouping?.labels.count ?? 0) positions, the plan has \(count)")
        self.seed = seed
        self.count = count
        self.globalBatch = globalBatch
        self.grouping = grouping.flatMap { $0.size > 1 ? $0 : nil }
    }

    public var stepsPerEpoch: Int { (count + globalBatch - 1) / globalBatch }

    /// The permutation of 0 ..< count for `epoch` (Fisher-Yates on RandomStream(seed, .shuffle, epoch)),
    /// grouped when the plan has a `Grouping` (`grouped(_:epoch:)`).
    public func permutation(epoch: Int) -> [Int] {
        var order = Array(0..<count)
        var rng = RandomStream(seed: seed, purpose: .shuffle, id: UInt64(epoch))
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, rng.nextInt(below: i + 1)) }
        return grouping.map { grouped(order, by: $0, epoch: epoch) } ?? order
    }

    /// `shuffled` in groups: each label's samples, in shuffled order, cut into groups of
    /// `size`; the full groups in an order of their own (RandomStream(seed, .shuffle, epoch
    /// + 2^40)), then each label's last partial group (kept together, so the epoch's last
    /// batches still hold positives), then the unlabelled samples, both in shuffled order.
    /// When `size` divides the global batch, every batch before the leftovers holds whole
    /// groups, of distinct labels as long as the remaining groups allow it.
    func grouped(_ shuffled: [Int], by g: Grouping, epoch: Int) -> [Int] {
        var buckets: [Int32: [Int]] = [:], firstSeen: [Int32] = []
        var unlabelled: [Int] = []
        for p in shuffled {
            let label = g.labels[p]
            guard label >= 0 else { unlabelled.append(p); continue }
            if buckets[label] == nil { firstSeen.append(label) }
            buckets[label, default: []].append(p)
        }
        var groups: [ArraySlice<Int>] = [], partial: [ArraySlice<Int>] = []
        for label in firstSeen {
            let members = buckets[label]!
            var start = 0
            while start + g.size <= members.count { groups.append(members[start..<(start + g.size)]); start += g.size }
            if start < members.count { partial.append(members[start...]) }
        }
        var rng = RandomStream(seed: seed, purpose: .shuffle, id: UInt64(epoch) | 1 << 40)
        for i in stride(from: groups.count - 1, to: 0, by: -1) { groups.swapAt(i, rng.nextInt(below: i + 1)) }
        // One group per label in a batch where the groups allow: a later group of a label the
        // batch lacks takes the place of a repeated one (a batch of one style has no negatives).
        let perBatch = globalBatch % g.size == 0 ? globalBatch / g.size : 0
        if perBatch > 1 {
            var i = 0
            while i < groups.count {
                var inBatch = Set<Int32>()
                for slot in i..<min(groups.count, i + perBatch) {
                    if inBatch.contains(g.labels[groups[slot].first!]),
                       let j = groups[(slot + 1)...].firstIndex(where: { !inBatch.contains(g.labels[$0.first!]) }) {
                        groups.swapAt(slot, j)
                    }
                    inBatch.insert(g.labels[groups[slot].first!])
                }
                i += perBatch
            }
        }
        return groups.flatMap { $0 } + partial.flatMap { $0 } + unlabelled
    }

    /// The global batch of `step` in `epoch`, as positions into the permutation.
    public func batchRange(step: Int) -> Range<Int> {
        precondition(step >= 0 && step < stepsPerEpoch, "step \(step) outside 0..<\(stepsPerEpoch)")
        return (step * globalBatch)..<min(count, (step + 1) * globalBatch)
    }

    /// Trainer `trainer` of `trainers`'s contiguous share of `range`.
    public static func slice(_ range: Range<Int>, trainer: Int, of trainers: Int) -> Range<Int> {
        precondition(trainers >= 1 && trainer >= 0 && trainer < trainers, "trainer \(trainer) of \(trainers)")
        let n = range.count, base = n / trainers, extra = n % trainers
        let start = range.lowerBound + trainer * base + min(trainer, extra)
        return start..<(start + base + (trainer < extra ? 1 : 0))
    }

    /// The sample positions trainer `trainer` of `trainers` reads at (epoch, step), given the
    /// epoch's permutation.
    public func samples(_ permutation: [Int], step: Int, trainer: Int, of trainers: Int) -> [Int] {
        Array(permutation[Self.slice(batchRange(step: step), trainer: trainer, of: trainers)])
    }

    /// Trainer `trainer` of `trainers`'s share of the global batch `range` (positions into
    /// `permutation`), balanced by cost: the same number of samples as `slice` gives, but
    /// chosen so that the trainers' summed `cost` is as even as a greedy longest-first
    /// assignment makes it (ties broken by position, so every trainer computes the same
    /// assignment without talking). The whole batch is still covered exactly once, so the
    /// summed gradient, and with it training, does not change; only which trainer computes
    /// what. Returned in global-batch order.
    public static func balancedSlice(_ range: Range<Int>, trainer: Int, of trainers: Int, cost: (Int) -> Double) -> [Int] {
        precondition(trainers >= 1 && trainer >= 0 && trainer < trainers, "trainer \(trainer) of \(trainers)")
        guard trainers > 1 else { return Array(range) }
        let quota = (0..<trainers).map { slice(range, trainer: $0, of: trainers).count }
        let costs = range.map { (position: $0, cost: cost($0)) }
        let order = costs.sorted { $0.cost != $1.cost ? $0.cost > $1.cost : $0.position < $1.position }
        var load = [Double](repeating: 0, count: trainers), taken = [Int](repeating: 0, count: trainers)
        var mine: [Int] = []
        for item in order {
            var best = -1
            for t in 0..<trainers where taken[t] < quota[t] && (best < 0 || load[t] < load[best]) { best = t }
            load[best] += item.cost
            taken[best] += 1
            if best == trainer { mine.append(item.position) }
        }
        return mine.sorted()
    }

    /// The cursor after `c`.
    public func advance(_ c: DataCursor) -> DataCursor {
        c.step + 1 < stepsPerEpoch ? DataCursor(epoch: c.epoch, step: c.step + 1) : DataCursor(epoch: c.epoch + 1, step: 0)
    }
}

/// Condition dropout as USO trains: with probability p the style reference is dropped, with
/// probability p the content reference, never both, decided by (seed, sample id, epoch).
public struct ConditionDropout: Sendable, Equatable {
    public let dropStyle: Bool
    public let dropContent: Bool

    /// Requires p <= 0.5 (the two events are disjoint halves of one draw).
    public static func decide(seed: UInt64, sampleID: Int64, epoch: Int, p: Double = 0.25) -> ConditionDropout {
        precondition(p >= 0 && p <= 0.5, "dropout probability \(p) must be in 0...0.5")
        precondition(sampleID >= 0 && sampleID < (1 << 32), "sample ids are 32-bit here")
        var rng = RandomStream(seed: seed, purpose: .conditionDropout, id: UInt64(sampleID) << 16 | UInt64(epoch & 0xFFFF))
        let u = Double(rng.nextUniform())
        return ConditionDropout(dropStyle: u < p, dropContent: u >= p && u < 2 * p)
    }
}
