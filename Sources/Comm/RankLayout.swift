/// How reward ranks are chosen among the world's ranks.
public enum RankPlacement: String, Sendable, CaseIterable {
    /// The last R world ranks.
    case tail
    /// R ranks spread over the hosts as evenly as possible (round-robin from the last
    /// host backwards, taking each host's highest remaining rank).
    case spread
    /// Every rank of the last host(s), which hold no trainer: reward ranks on hosts of their
    /// own. A layout where a reward rank would share a host with a trainer is an error.
    case ownHosts = "own_hosts"
}

/// What a rank does in the job.
public enum RankRole: String, Sendable, Equatable {
    /// Trainer rank 0: trains, and also owns the shard plan, checkpoint metadata and reports.
    case coordinator
    /// A data-parallel trainer.
    case trainer
    /// Hosts the CSD model and serves style rewards.
    case reward
}

/// A rank layout that cannot exist, named by its config key and the world size.
public struct RankLayoutError: Error, CustomStringConvertible, Sendable, Equatable {
    public let key: String
    public let value: Int
    public let worldSize: Int
    public let reason: String
    /// The whole message, where the count is possible but the placement forbids it.
    public let detail: String?

    public init(key: String, value: Int, worldSize: Int, reason: String, detail: String? = nil) {
        self.key = key; self.value = value; self.worldSize = worldSize; self.reason = reason; self.detail = detail
    }

    public var description: String {
        if let detail { return detail }
        return "\(key) = \(value) \(reason) in a world of \(worldSize) rank\(worldSize == 1 ? "" : "s"); "
            + "\(key) must be between 0 and \(max(0, worldSize - 1)) (the world size minus one, "
            + "so that at least one trainer remains)"
    }
}

/// The split of the world into trainer ranks and reward ranks.
///
/// A pure function of (world size, reward rank count, placement, every rank's host name),
/// so every rank computes the same layout from the same config without talking: no rank
/// guesses. Trainers are ordered by world rank; trainer 0 is the coordinator.
public struct RankLayout: Sendable, Equatable {
    public let worldSize: Int
    public let placement: RankPlacement
    /// World ranks that train, ascending. Never empty.
    public let trainerRanks: [Int]
    /// World ranks that serve rewards, ascending.
    public let rewardRanks: [Int]

    /// Computes the layout. `hosts[r]` is world rank r's host name (used by `spread` and
    /// `ownHosts`); `key` and `placementKey` are how errors name the two settings (the config
    /// keys, or the command-line flags that gave them).
    /// - Throws: `RankLayoutError` naming `key` for a negative count, a count larger than
    ///   the world, or one that leaves no trainer; under `ownHosts`, for a count that is not
    ///   every rank of the last host(s) (naming the host a reward rank would share with a
    ///   trainer).
    public init(worldSize: Int, rewardRanks count: Int, placement: RankPlacement, hosts: [String],
                key: String = "cluster.reward_ranks", placementKey: String = "cluster.placement") throws(RankLayoutError) {
        precondition(worldSize >= 1, "a world has at least one rank")
        precondition(hosts.count == worldSize, "one host name per rank: \(hosts.count) for \(worldSize) ranks")
        if count < 0 {
            throw RankLayoutError(key: key, value: count, worldSize: worldSize, reason: "is negative")
        }
        if count > worldSize {
            throw RankLayoutError(key: key, value: count, worldSize: worldSize, reason: "is larger than the world")
        }
        if count == worldSize {
            throw RankLayoutError(key: key, value: count, worldSize: worldSize, reason: "leaves no trainer rank")
        }
        let reward: [Int]
        switch placement {
        case .tail:
            reward = Array((worldSize - count)..<worldSize)
        case .spread:
            reward = RankLayout.spread(count, hosts: hosts)
        case .ownHosts:
            reward = try RankLayout.ownHosts(count, hosts: hosts, key: key, placementKey: placementKey)
        }
        let rewardSet = Set(reward)
        self.worldSize = worldSize
        self.placement = placement
        self.rewardRanks = reward.sorted()
        self.trainerRanks = (0..<worldSize).filter { !rewardSet.contains($0) }
    }

    /// Hosts in order of their first rank, each with its ranks ascending.
    private static func ranksByHost(_ hosts: [String]) -> (order: [String], ranksOf: [String: [Int]]) {
        var order: [String] = []
        var ranksOf: [String: [Int]] = [:]
        for (rank, host) in hosts.enumerated() {
            if ranksOf[host] == nil { order.append(host) }
            ranksOf[host, default: []].append(rank)
        }
        return (order, ranksOf)
    }

    private static func spread(_ count: Int, hosts: [String]) -> [Int] {
        var (order, ranksOf) = ranksByHost(hosts)
        var chosen: [Int] = []
        while chosen.count < count {
            for host in order.reversed() where chosen.count < count {
                if let r = ranksOf[host]?.popLast() { chosen.append(r) }
            }
        }
        return chosen
    }

    /// Every rank of the last hosts, taken whole until `count` ranks are chosen; a count that
    /// ends inside a host (a reward rank beside a trainer) is an error that names the hosts
    /// and their ranks.
    private static func ownHosts(_ count: Int, hosts: [String], key: String, placementKey: String) throws(RankLayoutError) -> [Int] {
        if count == 0 { return [] }
        let (order, ranksOf) = ranksByHost(hosts)
        let listing = order.map { "\($0) (rank\(ranksOf[$0]!.count == 1 ? "" : "s") \(Self.ranges(ranksOf[$0]!)))" }.joined(separator: ", ")
        var chosen: [Int] = []
        for (taken, host) in order.reversed().enumerated() {
            let ranks = ranksOf[host]!
            if chosen.count + ranks.count > count {
                // Reward ranks would end inside this host, beside its trainers.
                let need = count - chosen.count
                let rewardHere = Array(ranks.suffix(need)), trainersHere = Array(ranks.prefix(ranks.count - need))
                let whole = chosen.count + ranks.count
                let counts = [chosen.count, whole].filter { $0 > 0 && $0 < hosts.count }
                let fix = counts.isEmpty ? "own_hosts needs at least two hosts"
                    : "set \(key) = " + counts.map(String.init).joined(separator: " or ") + " (whole hosts from the last)"
                throw RankLayoutError(key: key, value: count, worldSize: hosts.count, reason: "splits a host", detail:
                    "\(placementKey) = \"own_hosts\" keeps reward ranks on hosts without trainers, but \(key) = \(count) "
                    + "would put reward rank\(rewardHere.count == 1 ? "" : "s") \(Self.ranges(rewardHere)) on host \(host) beside trainer rank\(trainersHere.count == 1 ? "" : "s") "
                    + "\(Self.ranges(trainersHere)) (hosts in rank order: \(listing)); \(fix)"
                    + (order.count > 1 ? ", or give the hostfile's last host\(taken == 0 ? "" : "s") \(count) slot\(count == 1 ? "" : "s") in all" : ""))
            }
            chosen += ranks
            if chosen.count == count { return chosen }   // never every host: count < world size
        }
        return chosen
    }

    /// "0-2, 5" for [0, 1, 2, 5].
    static func ranges(_ ranks: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        let r = ranks.sorted()
        while i < r.count {
            var j = i
            while j + 1 < r.count && r[j + 1] == r[j] + 1 { j += 1 }
            parts.append(j == i ? "\(r[i])" : "\(r[i])-\(r[j])")
            i = j + 1
        }
        return parts.joined(separator: ", ")
    }

    /// The coordinator's world rank (trainer 0).
    public var coordinator: Int { trainerRanks[0] }

    /// The role of world rank `rank`.
    public func role(of rank: Int) -> RankRole {
        if rank == coordinator { return .coordinator }
        return rewardRanks.contains(rank) ? .reward : .trainer
    }

    /// The index of world rank `rank` among trainers, or nil for a reward rank.
    public func trainerIndex(of rank: Int) -> Int? { trainerRanks.firstIndex(of: rank) }

    /// The index of world rank `rank` among reward ranks, or nil for a trainer.
    public func rewardIndex(of rank: Int) -> Int? { rewardRanks.firstIndex(of: rank) }

    /// One line for logs: "4 ranks: trainers [0, 1, 2] (coordinator 0), reward [3] (tail)".
    public var summary: String {
        "\(worldSize) rank\(worldSize == 1 ? "" : "s"): trainers \(trainerRanks) (coordinator \(coordinator)), "
            + "reward \(rewardRanks) (\(placement.rawValue))"
    }
}

/// The communicators of one rank once the world is split by a `RankLayout`.
public final class RoleCommunicators {
    public let layout: RankLayout
    public let world: Communicator
    /// This rank's role.
    public let role: RankRole
    /// The trainers' communicator (gradient collectives), or nil on a reward rank.
    public let trainers: Communicator?
    /// The reward ranks' communicator, or nil on a trainer.
    public let rewards: Communicator?

    /// Gathers host names, computes the layout on every rank, and splits the world.
    /// Collective over `world`. Throws the same `RankLayoutError` on every rank for an
    /// impossible layout, before any split.
    public init(world: Communicator, rewardRanks: Int, placement: RankPlacement,
                key: String = "cluster.reward_ranks", placementKey: String = "cluster.placement") throws {
        let hostBytes = try world.allgather(Array(world.hostName.utf8))
        let hosts = hostBytes.map { String(decoding: $0, as: UTF8.self) }
        let layout = try RankLayout(worldSize: world.size, rewardRanks: rewardRanks, placement: placement,
                                    hosts: hosts, key: key, placementKey: placementKey)
        self.layout = layout
        self.world = world
        self.role = layout.role(of: world.rank)
        let isReward = role == .reward
        // Colour 0: trainers, 1: reward ranks; ordered by world rank in both.
        trainers = try world.split(color: isReward ? nil : 0, key: world.rank, name: "trainers")
        rewards = try world.split(color: isReward ? 1 : nil, key: world.rank, name: "rewards")
    }
}
