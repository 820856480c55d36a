import ArgumentParser
import Foundation
import TripletData
import SynthWorld

/// `uso data synth`: the built-in world, made in parallel by all ranks.
struct DataSynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Synthesise the built-in world: triplets, text-to-image pairs and style-labelled images.",
        discussion: """
            Subjects (shapes with colour structure, patterns, eyes, accessories) and styles \
            (palette, texture, stroke and edge treatment) are drawn from the seed. A stylization \
            expert renders the target's style on another subject (the style reference); a \
            de-stylization expert renders the subject neutrally at the target's layout (preserved) \
            or another (shifted). The last subjects and styles are held out for the evaluation split. \
            Under mpirun every rank makes its share of the shards and the coordinator writes the \
            manifests; the files are the same at any number of ranks.

            Examples:
              uso data synth --out data --resolution 64
              Cluster/launch-local.sh -np 2 uso data synth --out data --triplets 4096
            """
    )

    @Option(help: ArgumentHelp("Output folder (sets go to OUT/triplets, OUT/pairs, OUT/styles).", valueName: "dir"))
    var out: String

    @Option(help: "Seed of the whole world.") var seed: UInt64 = 7
    @Option(help: "Image side in pixels (the model preset's: tiny 32, small 64).") var resolution: Int = 64
    @Option(help: "Number of subjects (2...384).") var subjects: Int = 40
    @Option(help: "Number of styles (1...40).") var styles: Int = 40
    @Option(help: "Subjects kept for the evaluation split only.") var heldOutSubjects: Int = 4
    @Option(help: "Styles kept for the evaluation split only.") var heldOutStyles: Int = 4
    @Option(help: "Triplets to make.") var triplets: Int = 2048
    @Option(help: "Text-to-image pairs to make.") var pairs: Int = 2048
    @Option(help: "Style-labelled images to make.") var styleImages: Int = 2048
    @Option(help: "Fraction of triplets with a shifted (not preserved) layout.") var shiftedRatio: Double = 0.5
    @Option(help: "Fraction of samples in the evaluation split.") var evalFraction: Double = 0.1
    @Option(help: "Samples per shard.") var shardSize: Int = 256
    @OptionGroup var cluster: ClusterOptions

    var worldConfig: WorldConfig {
        var c = WorldConfig()
        c.seed = seed; c.resolution = resolution; c.subjects = subjects; c.styles = styles
        c.heldOutSubjects = heldOutSubjects; c.heldOutStyles = heldOutStyles
        c.triplets = triplets; c.pairs = pairs; c.styleImages = styleImages
        c.shiftedRatio = shiftedRatio; c.evalFraction = evalFraction; c.shardSize = shardSize
        return c
    }

    func validate() throws {
        do { try worldConfig.validate() } catch { throw ValidationError("\(error.dataset.map { "--\($0)" } ?? "option") \(error.message)") }
    }

    func run() throws {
        let commandLine = "uso " + CommandLine.arguments.dropFirst().joined(separator: " ")
        let config = worldConfig, out = out
        try MPIJob.run("data synth") { runtime in
            let roles = try cluster.roles(world: runtime.world)
            try WorldSynthesis.synthesize(config, into: out, world: runtime.world, coordinator: roles.layout.coordinator, createdBy: commandLine)
        }
    }
}
