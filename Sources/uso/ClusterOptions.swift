import ArgumentParser
import Comm
import Config
import Training

/// The options that decide rank roles: a config file's [cluster] table, and flags that
/// override it.
struct ClusterOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("A run config (TOML); its [cluster] table sets the rank layout.",
                                            valueName: "file"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp(
        "Ranks that serve style rewards (overrides cluster.reward_ranks). 0 to world size - 1.", valueName: "R"))
    var rewardRanks: Int?

    @Option(name: .long, help: ArgumentHelp(
        "Where reward ranks go: tail (the last R ranks), spread (evenly over hosts) or own_hosts (every rank of the last hosts, no trainer beside them). Overrides cluster.placement.",
        valueName: "tail|spread|own_hosts"))
    var placement: String?

    /// The effective [cluster] settings: the config file's, then the flags.
    func clusterConfig() throws(ConfigError) -> ClusterConfig {
        var cluster = try config.map { (path) throws(ConfigError) in try RunConfig.load(path: path).cluster } ?? ClusterConfig()
        if let rewardRanks { cluster.rewardRanks = rewardRanks }
        if let placement {
            guard let p = ClusterConfig.Placement(rawValue: placement) else {
                let allowed = ClusterConfig.Placement.allCases.map(\.rawValue).joined(separator: " | ")
                throw ConfigError(source: "<command line>", key: "--placement",
                                  message: "\"\(placement)\" is not allowed: use \(allowed)")
            }
            cluster.placement = p
        }
        return cluster
    }

    /// Splits the world by the effective layout. Collective.
    func roles(world: Communicator) throws -> RoleCommunicators {
        let cluster = try clusterConfig()
        let key = rewardRanks != nil ? "--reward-ranks" : "cluster.reward_ranks"
        return try RoleCommunicators(world: world, rewardRanks: cluster.rewardRanks, placement: cluster.placement.rankPlacement,
                                     key: key, placementKey: placement != nil ? "--placement" : "cluster.placement")
    }
}
