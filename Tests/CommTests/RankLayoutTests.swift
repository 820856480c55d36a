import Comm
import Testing

/// The rank layout as a pure function: every rank computes the same split without talking.
struct RankLayoutTests {
    @Test func tailTakesTheLastRanks() throws {
        let layout = try RankLayout(worldSize: 5, rewardRanks: 2, placement: .tail, hosts: Array(repeating: "h", count: 5))
        #expect(layout.trainerRanks == [0, 1, 2])
        #expect(layout.rewardRanks == [3, 4])
        #expect(layout.coordinator == 0)
        #expect(layout.role(of: 0) == .coordinator)
        #expect(layout.role(of: 2) == .trainer)
        #expect(layout.role(of: 4) == .reward)
        #expect(layout.trainerIndex(of: 2) == 2)
        #expect(layout.rewardIndex(of: 4) == 1)
        #expect(layout.trainerIndex(of: 3) == nil)
    }

    @Test func zeroRewardRanksMakesEveryRankATrainer() throws {
        let layout = try RankLayout(worldSize: 3, rewardRanks: 0, placement: .spread, hosts: ["a", "b", "c"])
        #expect(layout.trainerRanks == [0, 1, 2])
        #expect(layout.rewardRanks.isEmpty)
    }

    @Test func spreadGoesRoundRobinOverHostsFromTheLast() throws {
        let hosts = ["a", "a", "a", "a", "b", "b", "b", "b"]
        #expect(try RankLayout(worldSize: 8, rewardRanks: 1, placement: .spread, hosts: hosts).rewardRanks == [7])
        #expect(try RankLayout(worldSize: 8, rewardRanks: 2, placement: .spread, hosts: hosts).rewardRanks == [3, 7])
        #expect(try RankLayout(worldSize: 8, rewardRanks: 3, placement: .spread, hosts: hosts).rewardRanks == [3, 6, 7])
        #expect(try RankLayout(worldSize: 8, rewardRanks: 2, placement: .tail, hosts: hosts).rewardRanks == [6, 7])
    }

    @Test func spreadHandlesUnevenAndInterleavedHosts() throws {
        // Slurm cyclic distribution interleaves hosts: ranks 0, 2, 4 on a; 1, 3 on b.
        let hosts = ["a", "b", "a", "b", "a"]
        let layout = try RankLayout(worldSize: 5, rewardRanks: 2, placement: .spread, hosts: hosts)
        #expect(layout.rewardRanks == [3, 4])
        #expect(layout.trainerRanks == [0, 1, 2])
        // With more reward ranks than one host can give, the other host gives more.
        let uneven = try RankLayout(worldSize: 4, rewardRanks: 3, placement: .spread, hosts: ["a", "a", "a", "b"])
        #expect(uneven.rewardRanks == [1, 2, 3])
        #expect(uneven.trainerRanks == [0])
    }

    @Test func ownHostsTakesWholeHostsFromTheLast() throws {
        let two = ["a", "a", "b", "b"]
        #expect(try RankLayout(worldSize: 4, rewardRanks: 2, placement: .ownHosts, hosts: two).rewardRanks == [2, 3])
        let three = ["a", "b", "c"]
        #expect(try RankLayout(worldSize: 3, rewardRanks: 1, placement: .ownHosts, hosts: three).rewardRanks == [2])
        #expect(try RankLayout(worldSize: 3, rewardRanks: 2, placement: .ownHosts, hosts: three).rewardRanks == [1, 2])
        // Interleaved (cyclic) hosts: the last host's ranks are 1 and 3.
        let cyclic = try RankLayout(worldSize: 4, rewardRanks: 2, placement: .ownHosts, hosts: ["a", "b", "a", "b"])
        #expect(cyclic.rewardRanks == [1, 3])
        #expect(cyclic.trainerRanks == [0, 2])
        #expect(try RankLayout(worldSize: 2, rewardRanks: 0, placement: .ownHosts, hosts: ["h", "h"]).trainerRanks == [0, 1])
    }

    @Test("own_hosts refuses a reward rank beside a trainer, naming the host and the ranks", arguments: [
        (["a", "a", "b", "b", "b"], 2, "would put reward ranks 3-4 on host b beside trainer rank 2 "
            + "(hosts in rank order: a (ranks 0-1), b (ranks 2-4)); set cluster.reward_ranks = 3 (whole hosts from the last), "
            + "or give the hostfile's last host 2 slots in all"),
        (["a", "a", "b", "b"], 3, "would put reward rank 1 on host a beside trainer rank 0 "
            + "(hosts in rank order: a (ranks 0-1), b (ranks 2-3)); set cluster.reward_ranks = 2 (whole hosts from the last), "
            + "or give the hostfile's last hosts 3 slots in all"),
        (["h", "h"], 1, "would put reward rank 1 on host h beside trainer rank 0 (hosts in rank order: h (ranks 0-1)); "
            + "own_hosts needs at least two hosts"),
    ])
    func ownHostsRefusesASharedHost(hosts: [String], count: Int, message: String) {
        do {
            let layout = try RankLayout(worldSize: hosts.count, rewardRanks: count, placement: .ownHosts, hosts: hosts)
            Issue.record("accepted: \(layout.summary)")
        } catch {
            let text = "\(error)"
            #expect(text.hasPrefix("cluster.placement = \"own_hosts\" keeps reward ranks on hosts without trainers, but "
                                   + "cluster.reward_ranks = \(count) "), "\(text)")
            #expect(text.hasSuffix(message), "\(text)")
        }
    }

    @Test func summaryNamesRoles() throws {
        let layout = try RankLayout(worldSize: 4, rewardRanks: 1, placement: .tail, hosts: Array(repeating: "h", count: 4))
        #expect(layout.summary == "4 ranks: trainers [0, 1, 2] (coordinator 0), reward [3] (tail)")
    }

    @Test("impossible layouts name the key and the world size", arguments: [
        (-1, "is negative"), (4, "leaves no trainer rank"), (5, "is larger than the world"),
    ])
    func impossibleLayouts(count: Int, reason: String) {
        do {
            _ = try RankLayout(worldSize: 4, rewardRanks: count, placement: .tail, hosts: Array(repeating: "h", count: 4))
            Issue.record("reward_ranks = \(count) was accepted for a world of 4")
        } catch {
            let text = "\(error)"
            #expect(text.contains("cluster.reward_ranks = \(count) \(reason) in a world of 4 ranks"), "\(text)")
            #expect(text.contains("must be between 0 and 3"), "\(text)")
        }
    }

    @Test func layoutErrorUsesTheGivenKey() {
        #expect(throws: RankLayoutError.self) {
            try RankLayout(worldSize: 1, rewardRanks: 1, placement: .tail, hosts: ["h"], key: "--reward-ranks")
        }
        do {
            _ = try RankLayout(worldSize: 1, rewardRanks: 1, placement: .tail, hosts: ["h"], key: "--reward-ranks")
        } catch {
            #expect("\(error)".hasPrefix("--reward-ranks = 1 leaves no trainer rank in a world of 1 rank;"))
        }
    }
}
