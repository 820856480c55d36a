import ArgumentParser
import Diagnostics
import Foundation

/// `uso diag`: what the flight recorders of a run's ranks saw.
struct DiagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diag",
        abstract: "A run's diagnostics: every rank's flight recorder (RUN/diag/).",
        discussion: """
            Every rank of uso train records its spans (data wait, micro-batches, each collective with \
            its sequence number, bytes and state, the optimizer, checkpoint copies and writes) in a \
            preallocated ring (diag.recorder_spans) and flushes them to RUN/diag/rank_RR.jsonl every \
            diag.flush_every steps, at the end and on an error.

            Examples:
              uso diag timeline runs/small-uso --out trace.json
            """,
        subcommands: [DiagTimelineCommand.self]
    )
}

/// `uso diag timeline`.
struct DiagTimelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timeline",
        abstract: "Every rank's spans as one Chrome trace (open it in Perfetto or chrome://tracing).",
        discussion: """
            pid = world rank (named with its role and host), tid = stream (compute, comm, reward, io). \
            The ranks' clocks are moved onto rank 0's by the offsets measured by ping-pong at the \
            run's start; the residual error (half the shortest round trip) is printed. Works on a \
            run still going, with what has been flushed.

            Example:
              uso diag timeline runs/small-uso --out trace.json
            """
    )

    @Argument(help: ArgumentHelp("A run folder.", valueName: "run")) var folder: String
    @Option(help: ArgumentHelp("The trace file to write.", valueName: "file")) var out: String

    func run() throws {
        let (trace, summary) = try ChromeTrace.build(run: folder)
        do { try trace.write(to: URL(fileURLWithPath: out), options: .atomic) } catch {
            throw ValidationError("\(out): cannot write the trace: \(error.localizedDescription)")
        }
        print(String(format: "uso diag timeline: wrote %@: %d spans of %d rank(s); clocks aligned to rank 0 within %.1f us",
                     out, summary.spans, summary.ranks, Double(summary.residualNanoseconds) / 1000))
    }
}
