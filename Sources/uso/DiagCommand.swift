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
              uso diag report runs/small-uso --html report.html --curve allreduce.json
            """,
        subcommands: [DiagTimelineCommand.self, DiagReportCommand.self]
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

/// `uso diag report`.
struct DiagReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "A run's sync diagnostics: a summary here and one self-contained HTML page with charts.",
        discussion: """
            Prints, from RUN/diag/ and RUN/metrics.jsonl: the step time split per trainer (compute, \
            exposed sync, data wait, reward wait), every gradient-bucket size with its in-flight \
            time, algbw and busbw beside the allreduce curve's busbw at that size, the stragglers \
            (per collective of the trainers, the last to arrive, by how much, and its span just \
            before), the reward ranks' busy time and the request-to-reply latency, skipped steps and \
            stall reports. --html writes one page (no network) with SVG charts: loss and reward, the \
            step split per rank, busbw against bucket size with the curve, the reward latency \
            histogram and a swimlane of the last steps; --json writes the figures for scripts. Works \
            on a run still going, with what has been flushed.

            The curve: uso bench allreduce --json FILE on the same machines and ranks (default: \
            RUN/diag/allreduce.json when present).

            Example:
              Cluster/launch-local.sh -np 2 uso bench allreduce --json runs/small-uso/diag/allreduce.json
              uso diag report runs/small-uso --html runs/small-uso/report.html
            """
    )

    @Argument(help: ArgumentHelp("A run folder.", valueName: "run")) var folder: String
    @Option(help: ArgumentHelp("Also write the HTML page here.", valueName: "file")) var html: String?
    @Option(help: ArgumentHelp("An allreduce curve (uso bench allreduce --json).", valueName: "file")) var curve: String?
    @Option(help: ArgumentHelp("Also write the figures as JSON here.", valueName: "file")) var json: String?
    @Option(help: "Steps in the swimlane.") var laneSteps: Int = 3

    func run() throws {
        let report = try RunReport.build(run: folder, curve: curve, laneSteps: max(1, laneSteps))
        print(report.summary(), terminator: "")
        if let html {
            do { try Data(report.html().utf8).write(to: URL(fileURLWithPath: html), options: .atomic) } catch {
                throw ValidationError("\(html): cannot write the page: \(error.localizedDescription)")
            }
            print("uso diag report: wrote \(html)")
        }
        if let json {
            do { try report.json().write(to: URL(fileURLWithPath: json), options: .atomic) } catch {
                throw ValidationError("\(json): cannot write the figures: \(error.localizedDescription)")
            }
            print("uso diag report: wrote \(json)")
        }
    }
}
