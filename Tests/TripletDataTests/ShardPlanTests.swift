import Foundation
import Testing
import TripletData
import USOTestSupport

/// The shard plan, condition dropout and the prefetching loader.
@Suite(.serialized)
struct ShardPlanTests {
    @Test(arguments: [1, 2, 3, 4])
    func everySampleExactlyOncePerEpochInTheSameGlobalOrder(trainers: Int) {
        let plan = ShardPlan(seed: 7, count: 103, globalBatch: 8)   // 13 steps, the last of 7
        #expect(plan.stepsPerEpoch == 13)
        for epoch in 0..<3 {
            let perm = plan.permutation(epoch: epoch)
            var seen: [Int] = []
            for step in 0..<plan.stepsPerEpoch {
                var batch: [Int] = []
                var sizes: [Int] = []
                for t in 0..<trainers {
                    let s = plan.samples(perm, step: step, trainer: t, of: trainers)
                    sizes.append(s.count)
                    batch += s
                }
                #expect(sizes.max()! - sizes.min()! <= 1, "slices \(sizes)")
                #expect(batch == plan.samples(perm, step: step, trainer: 0, of: 1), "trainers concatenate to the global batch")
                seen += batch
            }
            #expect(seen.sorted() == Array(0..<103), "epoch \(epoch) at \(trainers) trainers")
            #expect(seen == perm, "the global order is the permutation")
        }
        #expect(plan.permutation(epoch: 0) != plan.permutation(epoch: 1))
        #expect(ShardPlan(seed: 8, count: 103, globalBatch: 8).permutation(epoch: 0) != plan.permutation(epoch: 0))
    }

    @Test func cursorAdvancesAcrossEpochs() {
        let plan = ShardPlan(seed: 1, count: 10, globalBatch: 4)
        var c = DataCursor()
        var visited: [DataCursor] = []
        for _ in 0..<7 { visited.append(c); c = plan.advance(c) }
        #expect(visited.map(\.epoch) == [0, 0, 0, 1, 1, 1, 2])
        #expect(visited.map(\.step) == [0, 1, 2, 0, 1, 2, 0])
    }

    /// Grouped by label (stage csd's images_per_style): still every sample once per epoch, and
    /// every batch before the leftovers holds globalBatch / K labels with K samples each; a
    /// label's last partial group and the unlabelled samples come at the epoch's end. The order
    /// is keyed by (seed, epoch) alone and K = 1 is the plain shuffle.
    @Test func groupedPlanGivesEveryBatchWholeGroupsOfOneLabel() {
        // 10 labels with 3 to 12 samples each, and 5 unlabelled.
        var labels: [Int32] = []
        for l in 0..<10 { labels += [Int32](repeating: Int32(l), count: 3 + l) }
        labels += [Int32](repeating: -1, count: 5)
        labels = Array(labels.reversed())
        let k = 4, batch = 8
        let plan = ShardPlan(seed: 9, count: labels.count, globalBatch: batch, grouping: .init(labels: labels, size: k))
        let fullGroups = (0..<10).reduce(0) { $0 + (3 + $1) / k }
        for epoch in 0..<3 {
            let perm = plan.permutation(epoch: epoch)
            #expect(perm.sorted() == Array(0..<labels.count), "epoch \(epoch): every sample once")
            for g in 0..<fullGroups {
                let group = perm[(g * k)..<((g + 1) * k)].map { labels[$0] }
                #expect(Set(group).count == 1 && group[0] >= 0, "epoch \(epoch), group \(g): labels \(group)")
            }
            // Distinct labels in every batch of whole groups while other labels remain (here: all but the last).
            for step in 0..<(fullGroups * k / batch - 1) {
                let counts = Dictionary(grouping: plan.samples(perm, step: step, trainer: 0, of: 1).map { labels[$0] }, by: { $0 }).mapValues(\.count)
                #expect(counts.count == batch / k && counts.values.allSatisfy { $0 == k }, "epoch \(epoch), step \(step): \(counts)")
            }
            // Then each label's partial group, together, then the unlabelled samples.
            let rest = perm[(fullGroups * k)...].map { labels[$0] }
            #expect(rest.suffix(5).allSatisfy { $0 < 0 } && rest.dropLast(5).allSatisfy { $0 >= 0 }, "the unlabelled samples come last: \(rest)")
            let runs = rest.dropLast(5).reduce(into: [Int32]()) { if $0.last != $1 { $0.append($1) } }
            #expect(runs.count == Set(runs).count && runs.count == (0..<10).filter { (3 + $0) % k != 0 }.count,
                    "one partial group per label with a remainder, kept together: \(rest)")
            #expect(plan.permutation(epoch: epoch) == perm, "keyed by (seed, epoch)")
        }
        #expect(plan.permutation(epoch: 0) != plan.permutation(epoch: 1))
        let plain = ShardPlan(seed: 9, count: labels.count, globalBatch: batch)
        #expect(ShardPlan(seed: 9, count: labels.count, globalBatch: batch, grouping: .init(labels: labels, size: 1)).permutation(epoch: 2)
                == plain.permutation(epoch: 2))
        // Without grouping a batch of 8 from these labels is often without any pair; grouped, never.
        let pairless = (0..<plain.stepsPerEpoch).filter { step in
            let l = plain.samples(plain.permutation(epoch: 0), step: step, trainer: 0, of: 1).map { labels[$0] }.filter { $0 >= 0 }
            return Set(l).count == l.count
        }
        #expect(!pairless.isEmpty || plain.stepsPerEpoch < 3, "the plain shuffle's batches without a pair: \(pairless)")
    }

    @Test func dropoutIsQuarterEachNeverBothAndKeyed() {
        var style = 0, content = 0
        for id in 0..<20_000 {
            let d = ConditionDropout.decide(seed: 3, sampleID: Int64(id), epoch: 2)
            #expect(!(d.dropStyle && d.dropContent))
            style += d.dropStyle ? 1 : 0
            content += d.dropContent ? 1 : 0
        }
        #expect(abs(Double(style) / 20_000 - 0.25) < 0.015, "style dropped \(style)")
        #expect(abs(Double(content) / 20_000 - 0.25) < 0.015, "content dropped \(content)")
        #expect(ConditionDropout.decide(seed: 3, sampleID: 5, epoch: 2) == ConditionDropout.decide(seed: 3, sampleID: 5, epoch: 2))
        let changes = (0..<200).filter {
            ConditionDropout.decide(seed: 3, sampleID: Int64($0), epoch: 0) != ConditionDropout.decide(seed: 3, sampleID: Int64($0), epoch: 1)
        }
        #expect(changes.count > 50, "decisions depend on the epoch")
        let never = (0..<100).map { ConditionDropout.decide(seed: 3, sampleID: Int64($0), epoch: 0, p: 0) }
        #expect(never.allSatisfy { !$0.dropStyle && !$0.dropContent })
    }

    /// A set whose images encode their sample id: every byte of sample k's target is (k + i) mod 251.
    static func makeSet(_ dir: TemporaryDirectory, count: Int, shardSize: Int, excluded: [Int] = []) throws -> String {
        let s = 4, n = s * s * 3
        var infos: [ShardInfo] = []
        for start in stride(from: 0, to: count, by: shardSize) {
            var records: [ShardRecord] = []
            for k in start..<min(count, start + shardSize) {
                let target: [UInt8] = (0..<n).map { (i: Int) -> UInt8 in UInt8((k + i) % 251) }
                let style = [UInt8](repeating: UInt8(k % 256), count: n)
                let content = [UInt8](repeating: UInt8((k + 1) % 256), count: n)
                records.append(ShardRecord(sampleID: Int64(k), target: target, styleReference: style, contentReference: content,
                                           prompt: "sample \(k)", subjectID: Int32(k % 7), styleID: Int32(k % 5), layout: .preserved))
            }
            infos.append(try ShardWriter.write(records, kind: .triplets, resolution: s,
                                               to: dir.url.appendingPathComponent("t-\(start).h5").path))
        }
        var m = Manifest(kind: .triplets, resolution: s, shards: infos, createdBy: "test")
        m.excluded = excluded
        let path = Manifest.path(in: dir.path)
        try m.write(to: path)
        return path
    }

    @Test func loaderReadsEachTrainersSliceWithTheRightPixels() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try Self.makeSet(dir, count: 37, shardSize: 10, excluded: [3, 20])
        let index = try SampleIndex(manifestPath: path)
        #expect(index.count == 35)
        let plan = ShardPlan(seed: 5, count: index.count, globalBatch: 6)
        for trainers in [1, 3] {
            var seen: [Int64] = []
            for t in 0..<trainers {
                let loader = DataLoader(index: index, plan: plan, trainer: t, trainers: trainers, seed: 5, depth: 2)
                loader.start()
                for step in 0..<(2 * plan.stepsPerEpoch) {
                    let batch = try loader.next()
                    #expect(batch.cursor == DataCursor(epoch: step / plan.stepsPerEpoch, step: step % plan.stepsPerEpoch))
                    for s in batch.samples {
                        // Pixel i of channel c in CHW is byte (3 * pixel + c) of the HWC image.
                        let k = Int(s.sampleID)
                        let byte: Int = (k + 3 * 5 + 1) % 251   // pixel 5, channel 1
                        let want = Float(byte) / 127.5 - 1
                        #expect(s.target[16 + 5] == want, "sample \(k) read at a wrong offset")
                        #expect(s.prompt == "sample \(k)" && s.subjectID == Int32(k % 7))
                        #expect(!(s.hasStyleReference == false && s.hasContentReference == false))
                        let styleByte = Float(k % 256) / 127.5 - 1
                        if s.hasStyleReference { #expect(s.styleReference[0] == styleByte) }
                        if step < plan.stepsPerEpoch { seen.append(s.sampleID) }
                    }
                }
                loader.stop()
            }
            let kept: [Int64] = (0..<37).filter { $0 != 3 && $0 != 20 }.map { Int64($0) }
            #expect(seen.sorted() == kept, "\(trainers) trainers")
        }
    }

    @Test func loaderResumesAtACursor() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let index = try SampleIndex(manifestPath: try Self.makeSet(dir, count: 20, shardSize: 8))
        let plan = ShardPlan(seed: 2, count: 20, globalBatch: 4)
        let a = DataLoader(index: index, plan: plan, trainer: 0, trainers: 1, seed: 2)
        a.start()
        var full: [[Int64]] = []
        for _ in 0..<9 { full.append(try a.next().samples.map(\.sampleID)) }
        a.stop()
        let b = DataLoader(index: index, plan: plan, trainer: 0, trainers: 1, seed: 2)
        b.start(at: DataCursor(epoch: 1, step: 1))
        var resumed: [[Int64]] = []
        for _ in 0..<3 { resumed.append(try b.next().samples.map(\.sampleID)) }
        b.stop()
        #expect(resumed == Array(full[6..<9]))
    }

    @Test func missingShardStopsTheLoaderNamingTheFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let index = try SampleIndex(manifestPath: try Self.makeSet(dir, count: 12, shardSize: 4))
        let victim = index.manifest.shardPath(1, manifestPath: index.manifestPath)
        try FileManager.default.removeItem(atPath: victim)
        let loader = DataLoader(index: index, plan: ShardPlan(seed: 0, count: 12, globalBatch: 12), trainer: 0, trainers: 1, seed: 0)
        loader.start()
        do {
            _ = try loader.next()
            Issue.record("loaded a set with a missing shard")
        } catch {
            #expect("\(error)" == "\(victim): no such file")
        }
        loader.stop()
    }
}

/// The cost-balanced split of a global batch: the same samples, once each, the same counts
/// as the contiguous slices, and summed costs no worse than the contiguous split's.
struct BalancedSliceTests {
    @Test(arguments: [2, 3, 4])
    func coversTheBatchOnceWithEvenCounts(trainers: Int) {
        for (lower, n) in [(0, 8), (40, 11), (5, 3)] {
            let range = lower..<(lower + n)
            let cost: (Int) -> Double = { Double(($0 * 37) % 11 + 1) }
            let shares = (0..<trainers).map { ShardPlan.balancedSlice(range, trainer: $0, of: trainers, cost: cost) }
            #expect(shares.flatMap { $0 }.sorted() == Array(range), "\(shares)")
            #expect(shares.map(\.count) == (0..<trainers).map { ShardPlan.slice(range, trainer: $0, of: trainers).count })
            #expect(shares.allSatisfy { $0 == $0.sorted() }, "each share is in global-batch order")
            func worst(_ s: [[Int]]) -> Double { s.map { $0.reduce(0) { $0 + cost($1) } }.max()! }
            let contiguous = (0..<trainers).map { Array(ShardPlan.slice(range, trainer: $0, of: trainers)) }
            #expect(worst(shares) <= worst(contiguous), "balanced \(worst(shares)) vs contiguous \(worst(contiguous))")
        }
    }

    @Test func unevenCostsAreSpread() {
        // Two expensive samples at the front: contiguous slices give both to trainer 0.
        let costs: [Double] = [10, 10, 1, 1, 1, 1, 1, 1]
        let a = ShardPlan.balancedSlice(0..<8, trainer: 0, of: 2) { costs[$0] }
        let b = ShardPlan.balancedSlice(0..<8, trainer: 1, of: 2) { costs[$0] }
        #expect(a.reduce(0) { $0 + costs[$1] } == 13 && b.reduce(0) { $0 + costs[$1] } == 13, "\(a) \(b)")
        #expect(ShardPlan.balancedSlice(0..<8, trainer: 0, of: 1) { costs[$0] } == Array(0..<8))
    }
}
