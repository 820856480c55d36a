import ArgumentParser
import Bench
import Comm
import Diagnostics
import Foundation

/// `uso bench allreduce`: allreduce time, algbw and busbw per size, beside the local reduction rate.
struct BenchAllreduceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "Time in-place float-sum allreduce from 4 KiB to 256 MiB over all ranks.",
        discussion: """
            Per size: the median time of one allreduce (the slowest rank's), algbw = bytes / time, \
            busbw = algbw * 2(n-1)/n, and beside it the rate of a plain local sum of two buffers of \
            the same bytes on one rank (the reduction MPI itself must perform), measured \
            interleaved with the allreduce. busbw / local shows how far the collective is from \
            the machine's own limit. The best bucket size for gradient sync is where busbw peaks.

            Examples:
              Cluster/launch-local.sh -np 2 .build/release/uso bench allreduce
              Cluster/launch-local.sh -np 4 .build/release/uso bench allreduce --max-size 16MiB --json ar.json
            """
    )

    @Option(help: ArgumentHelp("Smallest message (e.g. 4KiB).", valueName: "bytes"))
    var minSize: String = "4KiB"

    @Option(help: ArgumentHelp("Largest message (e.g. 256MiB).", valueName: "bytes"))
    var maxSize: String = "256MiB"

    @Option(help: "Each size is the previous one times this factor.")
    var factor: Int = 2

    @Option(help: "Seconds to spend per size (sets the iteration count).")
    var secondsPerSize: Double = 0.3

    @Option(help: "At least this many timed iterations per size.")
    var minIterations: Int = 5

    @Option(help: ArgumentHelp("Also write the rows as JSON to this file (rank 0).", valueName: "file"))
    var json: String?

    func validate() throws {
        guard let lo = ByteSize.parse(minSize), lo >= 4 else {
            throw ValidationError("--min-size \"\(minSize)\" is not a byte count of at least 4 (like 4KiB)")
        }
        guard let hi = ByteSize.parse(maxSize), hi >= lo else {
            throw ValidationError("--max-size \"\(maxSize)\" is not a byte count of at least --min-size (like 256MiB)")
        }
        guard hi / 4 <= Int(Int32.max) else { throw ValidationError("--max-size must be below 8 GiB") }
        guard factor >= 2 else { throw ValidationError("--factor must be at least 2") }
        guard secondsPerSize > 0 else { throw ValidationError("--seconds-per-size must be positive") }
        guard minIterations >= 1 else { throw ValidationError("--min-iterations must be at least 1") }
    }

    func run() throws {
        var options = AllreduceBenchmark.Options(
            sizes: AllreduceBenchmark.Options.sizes(from: ByteSize.parse(minSize)!, to: ByteSize.parse(maxSize)!,
                                                    factor: factor))
        options.secondsPerSize = secondsPerSize
        options.minIterations = minIterations
        try MPIJob.run("bench allreduce") { runtime in
            let world = runtime.world
            let bench = AllreduceBenchmark(communicator: world, options: options)
            if world.rank == 0 {
                print("uso bench allreduce: \(world.size) rank\(world.size == 1 ? "" : "s"), in-place float sum, "
                      + "\(options.sizes.count) sizes from \(ByteSize.format(options.sizes.first!)) to "
                      + "\(ByteSize.format(options.sizes.last!))")
                #if DEBUG
                print("warning: this is a debug build; benchmark with `swift build -c release`")
                #endif
                fflush(nil)
            }
            let rows = try bench.run()
            guard world.rank == 0 else { return }
            print(AllreduceBenchmark.render(rows, ranks: world.size))
            if let best = rows.max(by: { $0.busbwGBs < $1.busbwGBs }), world.size > 1 {
                print("peak busbw \(String(format: "%.2f", best.busbwGBs)) GB/s at \(ByteSize.format(best.bytes))")
            }
            if let json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                let data = try encoder.encode(AllreduceReport(ranks: world.size, rows: rows))
                try data.write(to: URL(fileURLWithPath: json), options: .atomic)
                print("wrote \(json)")
            }
        }
    }
}

/// The JSON form of a benchmark run.
struct AllreduceReport: Codable {
    let ranks: Int
    let rows: [AllreduceBenchmark.Row]
}
