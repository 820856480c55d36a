/// The `[cluster]` table: how the world of ranks is divided into roles.
public struct ClusterConfig: Sendable, Equatable {
    /// Where reward ranks go.
    public enum Placement: String, Sendable, CaseIterable {
        case tail, spread
        case ownHosts = "own_hosts"
    }

    /// Ranks that host the CSD model and serve style rewards (0: rewards on the trainers, or off).
    public var rewardRanks: Int
    /// `tail`: the last R world ranks; `spread`: evenly over the hosts; `own_hosts`: every
    /// rank of the last hosts, which hold no trainer.
    public var placement: Placement

    public init(rewardRanks: Int = 0, placement: Placement = .tail) {
        self.rewardRanks = rewardRanks
        self.placement = placement
    }

    /// The upper bound depends on the world size, checked when the rank layout is computed.
    public static let rewardRanksKey = ConfigKey<Int>.integer("cluster.reward_ranks", default: 0, in: 0...Int(Int32.max),
        note: "at most world size - 1",
        "Ranks that host the CSD style model and answer reward requests. 0 means the style reward runs on the trainers themselves (colocated) or is off. At least one trainer must remain.")
    public static let placementKey = ConfigKey<Placement>.choice("cluster.placement", default: .tail,
        "Which world ranks serve rewards: \"tail\" takes the last reward_ranks ranks; \"spread\" takes them round-robin over the hosts (each host's highest ranks first), so no host holds them all; \"own_hosts\" makes them every rank of the last host(s), so reward and trainer ranks never share a host, and a reward_ranks that would split a host (or take every host) is an error naming it before any rank starts work.")

    /// The keys of `[cluster]`, documented.
    public static let keys: [ConfigKeySpec] = [rewardRanksKey.spec, placementKey.spec]

    /// Reads `[cluster]`; the world size is checked later, when the layout is computed.
    init(_ reader: ConfigTableReader) throws(ConfigError) {
        rewardRanks = try reader.read(Self.rewardRanksKey)
        placement = try reader.read(Self.placementKey)
        try reader.finish(allowed: Self.keys.map(\.name))
    }
}
