// uso-reward-check: the reward service under stress. Started by RewardTests as
// `mpirun -np N uso-reward-check R OUT_DIR`: the last R ranks serve rewards (with random
// delays of 0 to 50 ms), the others are trainers that each send 24 requests, two in flight
// at a time, with a deadline of 10 ms + 30 ms per trainer a reward rank serves. Every trainer recomputes each reward it is given and
// checks it is its own request's (no misapplied reply), counts answered + missed = sent
// (none lost), and, after finishing, late replies dropped = missed (none left over).
// Servers report how many requests they answered; rank 0 checks the totals.
import Comm
import Foundation
import Reward
import TensorCore
import USOModel
import USOTestSupport

let args = CommandLine.arguments
guard args.count == 3, let rewardCount = Int(args[1]) else {
    FileHandle.standardError.write(Data("usage: uso-reward-check REWARD_RANKS OUT_DIR\n".utf8))
    exit(64)
}
let runtime = try MPIRuntime.initialize()
let world = runtime.world
let layout = try RankLayout(worldSize: world.size, rewardRanks: rewardCount, placement: .tail,
                            hosts: Array(repeating: "h", count: world.size))
var results: [ScenarioResult] = []
@MainActor func record(_ name: String, _ failure: String?) {
    results.append(ScenarioResult(scenario: name, rank: world.rank, size: world.size, ok: failure == nil, detail: failure ?? ""))
}

let csd = CSDModel(config: ModelPreset.tiny.config)
csd.allocate(seed: 5)
let reward = StyleReward(csd: csd)
let size = csd.config.imageSize, n = 3 * size * size
func image(_ seed: UInt64, _ k: Int) -> [Float] {
    var rng = RandomStream(seed: seed, purpose: .evaluation, id: UInt64(k))
    let t = Tensor(zeros: [n])
    rng.fillUniform(t.buffer, low: -1, high: 1)
    return t.toArray()
}

var served = 0, sent = 0
if layout.role(of: world.rank) == .reward {
    let server = RewardServer(world: world, trainers: layout.trainerRanks.count, reward: reward, injectedDelay: 0...0.05)
    let stats = try server.serve()
    served = stats.requests
    record("server.busy-accounted", stats.busySeconds <= stats.wallSeconds ? nil : "busy \(stats.busySeconds) > wall \(stats.wallSeconds)")
} else {
    let trainer = layout.trainerIndex(of: world.rank)!
    // The deadline grows with the trainers each reward rank serves, so that some replies make it and some do not.
    let perServer = (layout.trainerRanks.count + layout.rewardRanks.count - 1) / layout.rewardRanks.count
    let client = RewardClient(world: world, rewardRanks: layout.rewardRanks, trainer: trainer, deadline: 0.03 * Double(perServer) + 0.01)
    var misapplied: String? = nil
    var pending: [(Int64, Int)] = []
    let gradient = Tensor(zeros: [n])
    func check(_ id: Int64, _ k: Int) throws {
        guard let reply = try client.reply(to: id) else { return }
        let img = Tensor(shape: [n], values: image(UInt64(trainer), k)), ref = Tensor(shape: [n], values: image(999, k % 5))
        let r = reward.reward(image: img.data, styleImage: ref.data, styleID: Int64(k % 5), gradient: gradient.data)
        let g = gradient.toArray()
        if (reply.requestID != id || reply.reward != r || reply.gradient != g) && misapplied == nil {
            misapplied = "request \(k): reply \(reply.requestID) r \(reply.reward), recomputed \(r)"
        }
    }
    for k in 0..<24 {
        let request = RewardRequest(requestID: 0, step: Int64(k / 4), microBatch: Int32(k % 4), styleID: Int64(k % 5), size: Int32(size),
                                    image: image(UInt64(trainer), k), styleImage: image(999, k % 5))
        pending.append((try client.submit(request)!, k))   // reward ranks of the job are never lost
        sent += 1
        if pending.count == 2 {
            let (id, kk) = pending.removeFirst()
            try check(id, kk)
        }
    }
    for (id, k) in pending { try check(id, k) }
    let s0 = client.stats
    let owed = try client.finish(drain: 30)
    guard owed.isEmpty else { throw RewardError("trainer \(trainer): replies still owed after the drain: \(owed)") }
    let s = client.stats
    record("client.none-misapplied", misapplied)
    record("client.none-lost", s0.answered + s0.missed == s0.sent ? nil : "answered \(s0.answered) + missed \(s0.missed) != sent \(s0.sent)")
    record("client.late-dropped", s.lateDropped == s.missed ? nil : "dropped \(s.lateDropped) late replies for \(s.missed) misses")
    results.append(ScenarioResult(scenario: "client.counts", rank: world.rank, size: world.size, ok: true,
                                  detail: "\(s.sent) \(s.answered) \(s.missed)"))
}
let totals = try world.allreduce([Int64(sent), Int64(served)], op: .sum)
if world.rank == 0 {
    record("totals.every-request-served-once", totals[0] == totals[1] ? nil : "sent \(totals[0]), served \(totals[1])")
}
try ScenarioResult.write(results, to: URL(fileURLWithPath: args[2]), rank: world.rank)
try world.barrier()
try runtime.finalize()
