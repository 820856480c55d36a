import Foundation
import TensorCore
import Testing
import Training
import TripletData
import USOModel
import USOTestSupport

/// A checkpoint written in the background holds the state of its step, however training
/// changes the live state while the write goes on; AdamW over slices of the flat vector
/// (ZeRO-1) takes exactly the whole optimizer's update.
struct CheckpointWriteTests {
    /// Two parameters of 4M elements each (weights and both moments: 96 MB to write), so the
    /// write is still in flight when the test changes the live state.
    static func model(seed: UInt64) -> (ParameterStore, [Parameter]) {
        let r = ParameterRegistry()
        let a = r.make("blocks.0.w", [2048, 2048], group: .base, initializer: .normal(std: 0.02))
        let b = r.make("blocks.1.w", [4096, 1024], group: .base, initializer: .normal(std: 0.02))
        let store = ParameterStore(r, seed: seed)
        store.allocateGradients { _ in true }
        return (store, [a, b])
    }

    static func state(step: Int) -> CheckpointState {
        CheckpointState(step: step, cursor: DataCursor(epoch: 0, step: step), seed: 1, adamStep: step, scheduleSteps: 10, nextLR: 1e-3,
                        rewardMode: "off", rewardStartStep: 0, rewardWeightNow: 0, stage: "base", preset: "tiny", trainers: 1,
                        rewardRanks: 0, worldSize: 1, placement: "tail", configText: "", overrides: [])
    }

    static func fillGradients(_ store: ParameterStore, _ value: Float) {
        for i in 0..<store.gradients.count { store.gradients.base[i] = value * Float(i % 7 - 3) }
    }

    @Test func aBackgroundSaveHoldsTheValuesOfItsStep() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (store, parameters) = Self.model(seed: 3)
        let adam = AdamW(store: store, hyper: .init())
        Self.fillGradients(store, 0.1)
        adam.update(lr: 1e-3)
        let weightsAtSave = parameters.map { $0.value.toArray() }
        let mAtSave = adam.m.values, vAtSave = adam.v.values

        let folder = "\(dir.path)/step_00000001"
        let saver = CheckpointSaver()
        try saver.start(CheckpointPart(trainer: 0, state: Self.state(step: 1), optimizer: adam), step: 1, folder: folder, background: true)
        #expect(saver.status(rank: 0) == CheckpointSaver.writing, "the write runs in the background")
        // Training goes on: the next update, and then a corruption of every weight, at once.
        Self.fillGradients(store, -0.3)
        adam.update(lr: 1e-3)
        for p in parameters { p.value.fill(7) }
        saver.waitForWrite()
        let done = try #require(try saver.settle(saver.status(rank: 0), rank: 0))
        try Checkpoint.complete(done.folder, writers: [0])

        let (fresh, freshParameters) = Self.model(seed: 99)
        let reloaded = AdamW(store: fresh, hyper: .init())
        let (_, metadata) = try Checkpoint.read(folder)
        try Checkpoint.load(folder, metadata: metadata, into: reloaded)
        for (p, want) in zip(freshParameters, weightsAtSave) {
            let same = p.value.toArray() == want
            #expect(same, "\(p.name): the checkpoint holds the weights of step 1")
        }
        let mSame = reloaded.m.values == mAtSave, vSame = reloaded.v.values == vAtSave
        #expect(mSame && vSame, "the checkpoint holds AdamW's moments of step 1")
        let changed = adam.m.values != mAtSave
        #expect(changed, "the live moments did move on after the save started")
    }

    @Test func adamWOverSlicesTakesTheWholeUpdate() {
        let (whole, wp) = Self.model(seed: 5)
        let (sliced, sp) = Self.model(seed: 5)
        let n = whole.trainableCount
        let full = AdamW(store: whole, hyper: .init(weightDecay: 0.1))
        // Three slices, the cuts inside parameters, each with its own gradient copy.
        let cuts = [0, n / 3 + 17, 2 * n / 3 - 5, n]
        let slices = (0..<3).map { k -> AdamW in
            let owned = cuts[k]..<cuts[k + 1]
            return AdamW(store: sliced, hyper: .init(weightDecay: 0.1), owned: owned, gradients: TensorStorage(count: owned.count))
        }
        for step in 1...3 {
            Self.fillGradients(whole, 0.05 * Float(step))
            full.update(lr: 1e-2)
            for s in slices {
                for i in s.owned { s.gradients.base[i - s.owned.lowerBound] = whole.gradients.base[i] }
                s.beginUpdate()
                // In two spans, as the buckets of a step update it.
                let mid = (s.owned.lowerBound + s.owned.upperBound) / 2
                s.update(lr: 1e-2, span: 0..<mid)
                s.update(lr: 1e-2, span: mid..<n)
            }
        }
        for (a, b) in zip(wp, sp) {
            let same = a.value.toArray() == b.value.toArray()
            #expect(same, "\(a.name): the slices' update equals the whole optimizer's bit for bit")
        }
        #expect(slices.map(\.stateBytes).reduce(0, +) == full.stateBytes)
        let squares = slices.map { $0.localSumOfSquares() }.reduce(0, +)
        #expect(abs(squares.squareRoot() - full.gradientNorm()) <= 1e-9 * full.gradientNorm())
    }
}

extension TensorStorage {
    /// A copy of every element.
    var values: [Float] { Array(UnsafeBufferPointer(start: base, count: count)) }
}
