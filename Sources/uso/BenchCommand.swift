import ArgumentParser

/// `uso bench`: measurements of this machine and this code, for the README's Performance section.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (build with -c release; run under mpirun).",
        discussion: """
            Each benchmark measures its alternatives interleaved in one run and reports ratios, \
            because these machines are shared and noisy: compare within a run, not across runs.
            """,
        subcommands: [BenchAllreduceCommand.self]
    )
}
