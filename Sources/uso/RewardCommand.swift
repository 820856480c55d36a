import ArgumentParser
import Config
import Foundation
import Reward
import Training

/// `uso reward`: the style reward as a service of its own.
struct RewardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reward",
        abstract: "Serve the Auxiliary Style Reward outside the training job.",
        subcommands: [RewardServeCommand.self]
    )
}

/// `uso reward serve`: a reward server that trainers reach over TCP (`reward.mode = "service"`).
struct RewardServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Host the CSD style model and answer the trainers' reward requests over TCP.",
        discussion: """
            Runs as a plain process, not an MPI rank: start one per reward host before (or \
            while) the training job starts, and give the job their addresses in reward.service. \
            Open MPI ends a whole job when one of its processes dies, so a reward rank inside the \
            job (reward.mode = "dedicated") takes the job down with it; a service outside it can \
            be lost alone: each trainer reports the loss once, counts the samples it would have \
            rewarded as misses, and trains on (or, with reward.required = true, ends the job). \
            The service reads the run config for the preset and reward.csd_weights, serves every \
            trainer that connects, and ends once all trainers of the job have stopped or gone.

            Examples:
              uso reward serve --config run.toml --listen 0.0.0.0:7311
              uso reward serve --config run.toml --listen 127.0.0.1:0 --address-file /tmp/reward.addr
            then, in the run config: [reward] mode = "service", service = "rewardhost:7311"
            """
    )

    @Option(help: ArgumentHelp("The run config (TOML): its preset and reward.csd_weights.", valueName: "file"))
    var config: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a config key (repeatable).", valueName: "key=value"))
    var overrides: [String] = []

    @Option(help: ArgumentHelp("Where to listen: host:port (port 0: any free port).", valueName: "host:port"))
    var listen: String = "0.0.0.0:7311"

    @Option(help: ArgumentHelp("Write the address bound (host:port) to this file once listening (for scripts).", valueName: "file"))
    var addressFile: String?

    func run() throws {
        let runConfig = try RunConfig.load(path: config, overrides: try RunConfig.overridePairs(overrides))
        let reward: StyleReward
        let service: RewardService
        do {
            reward = StyleReward(csd: try Trainer.loadCSD(runConfig))
            service = try RewardService(reward: reward, listen: listen)
        } catch {
            FileHandle.standardError.write(Data("uso reward serve: error: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let host = (try? FrameSocket.parse(listen).host) ?? ""
        let address = "\(host.isEmpty ? "0.0.0.0" : host):\(service.port)"
        if let addressFile {
            try (address + "\n").write(toFile: addressFile + ".tmp", atomically: false, encoding: .utf8)
            _ = rename(addressFile + ".tmp", addressFile)
        }
        print("uso reward serve: listening on \(address) (CSD from \(runConfig.reward.csdWeights), \(reward.csd.config.imageSize) px images)")
        fflush(nil)
        let stats = try service.serve { line in print("uso reward serve: \(line)"); fflush(nil) }
        print(String(format: "uso reward serve: %d requests from %d trainer(s) (%d stopped, %d gone), busy %.1f%% of %.1f s; every trainer is done",
                     stats.requests, stats.trainersSeen, stats.trainersStopped, stats.trainersGone, 100 * stats.busyFraction, stats.wallSeconds))
    }
}
