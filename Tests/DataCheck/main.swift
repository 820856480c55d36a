// uso-data-check: the shard plan and loader at the world size mpirun gives, every rank a
// trainer. Started by TripletDataTests as `mpirun -np N uso-data-check MANIFEST OUT_DIR`.
// Each rank loads two epochs of its slices through the DataLoader, checks every sample's
// pixels against its id, and sends the ids it read per step to rank 0, which checks that
// every sample was read exactly once per epoch and in the plan's global order. Results go
// to OUT_DIR/rank-<r>.jsonl as ScenarioResult lines.
import Comm
import Foundation
import TripletData
import USOTestSupport

guard CommandLine.arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: uso-data-check MANIFEST OUT_DIR\n".utf8))
    exit(64)
}
let runtime = try MPIRuntime.initialize()
let world = runtime.world
var results: [ScenarioResult] = []
@MainActor func record(_ name: String, _ failure: String?) {
    results.append(ScenarioResult(scenario: name, rank: world.rank, size: world.size, ok: failure == nil, detail: failure ?? ""))
}

let index = try SampleIndex(manifestPath: CommandLine.arguments[1])
let plan = ShardPlan(seed: 11, count: index.count, globalBatch: 10)
let loader = DataLoader(index: index, plan: plan, trainer: world.rank, trainers: world.size, seed: 11, depth: 3)
loader.start()
var pixelFailure: String? = nil
for epoch in 0..<2 {
    var mine: [Int64] = []
    var perStepCounts: [Int64] = []
    for _ in 0..<plan.stepsPerEpoch {
        let batch = try loader.next()
        perStepCounts.append(Int64(batch.samples.count))
        for s in batch.samples {
            mine.append(s.sampleID)
            let k = Int(s.sampleID)
            let want = Float((k + 7) % 251) / 127.5 - 1    // HWC byte 7 = pixel 2, channel 1 -> CHW [16 + 2]
            if s.target[16 + 2] != want && pixelFailure == nil { pixelFailure = "sample \(k): pixel value \(s.target[16 + 2]), want \(want)" }
        }
    }
    // Rank 0 assembles the global order: per step, trainer 0's slice, then trainer 1's, ...
    let allIDs = try world.gather(mine, root: 0)
    let allCounts = try world.gather(perStepCounts, root: 0)
    if let allIDs, let allCounts {
        var offsets = [Int](repeating: 0, count: world.size)
        var global: [Int64] = []
        for step in 0..<plan.stepsPerEpoch {
            for t in 0..<world.size {
                let n = Int(allCounts[t][step])
                global += allIDs[t][offsets[t]..<(offsets[t] + n)]
                offsets[t] += n
            }
        }
        let ids = Set(global)
        record("epoch\(epoch).exactly-once", global.count == index.count && ids.count == index.count ? nil
               : "read \(global.count) samples, \(ids.count) distinct, of \(index.count)")
        // Sample ids run on from each shard's first id, so the plan's positions map to ids through the index.
        let order = plan.permutation(epoch: epoch)
        let orderIDs = order.map { pos -> Int64 in
            let (s, r) = index.locations[pos]
            return Int64(index.manifest.shards[s].firstSampleID) + Int64(r)
        }
        record("epoch\(epoch).global-order", global == orderIDs ? nil : "the trainers' slices do not concatenate to the plan's order")
    }
}
loader.stop()
record("pixels", pixelFailure)
record("wait-accounted", loader.waitSeconds >= 0 ? nil : "negative wait")
try ScenarioResult.write(results, to: URL(fileURLWithPath: CommandLine.arguments[2]), rank: world.rank)
try world.barrier()
try runtime.finalize()
