import Comm
import Config
import FlightRecorder
import Foundation
import Training

/// `uso bench diag`: the diagnostics' cost. Training steps with the recorder on as in a run
/// (`diag.recorder_spans` spans in a board file, the stall inspector watching, flushed every
/// `diag.flush_every` steps into a scratch folder), off, and on with collective fingerprints
/// checked (`diag.check_collectives`), in rounds inside one mpirun job, the order rotating;
/// the ratios are the medians over rounds of each mode's median step time over off's.
/// Every rank must call `run`.
public struct DiagBenchmark {
    public struct Result: Sendable {
        public let onSeconds: Double, offSeconds: Double, checkedSeconds: Double
        /// The median over rounds of each round's on / off ratio.
        public let ratio: Double
        /// The same for the checked mode (fingerprints compared) over off.
        public let checkedRatio: Double
        public let spansPerStep: Double
        /// The cost of one span (begin and end) on a recorder of the same size, ns.
        public let spanNanoseconds: Double
        /// Within one run, steps cycling off / on / checked (the recorder paused, running, running
        /// with fingerprints): the median over every cycle of every round of on / off and checked / off.
        public let alternatingRatio: Double, alternatingCheckedRatio: Double
        /// The flushes' cost per step (they fall between steps, outside every step time), s.
        public let flushPerStep: Double
    }

    public let world: Communicator
    public let base: RunConfig
    public let perTrainerBatch: Int
    public let steps: Int
    public let rounds: Int

    public init(world: Communicator, base: RunConfig, perTrainerBatch: Int, steps: Int, rounds: Int) {
        self.world = world; self.base = base; self.perTrainerBatch = perTrainerBatch; self.steps = steps; self.rounds = rounds
    }

    enum Mode: CaseIterable { case off, on, checked }

    /// `scratch`: the run folder every rank uses (rank 0's choice).
    func measure(_ mode: Mode, scratch: String) throws -> (Double, Int) {
        var c = base
        let recording = mode != .off
        c.diag.recorderSpans = recording ? base.diag.recorderSpans : 0
        c.diag.checkCollectives = mode == .checked
        c.run.steps = steps
        c.run.checksumEvery = 0
        c.run.out = scratch
        c.data.globalBatch = perTrainerBatch * world.size
        let folder = c.run.out + "/diag"
        let diagnostics = try RunDiagnostics.start(c, runFolder: c.run.out, world: world, roles: (0..<world.size).map { "trainer \($0)" })
        let trainer = try Trainer(config: c, trainers: world, quiet: true, progress: .none)
        trainer.diagnostics = diagnostics
        let history = try trainer.run()
        try diagnostics.finish(world)
        Communicator.checksCollectives = false
        let spans = recording ? ((try? String(contentsOfFile: folder + "/" + RunDiagnostics.rankFile(world.rank), encoding: .utf8))?
            .split(separator: "\n").count ?? 0) : 0
        try world.barrier()
        if world.rank == 0 { try? FileManager.default.removeItem(atPath: c.run.out) }
        try world.barrier()
        return (median(history.dropFirst().map(\.stepSeconds)), spans)
    }

    /// One run whose steps cycle through the modes (step k: mode (k + round) mod 3), switched
    /// at the top of each step on every rank alike; per-step times grouped by mode.
    /// Returns each cycle's (off, on, checked) step times, the cycle's three consecutive steps.
    func alternate(round: Int, scratch: String) throws -> (cycles: [(off: Double, on: Double, checked: Double)], flush: Double) {
        var c = base
        c.run.steps = 3 * steps + 1
        c.run.checksumEvery = 0
        c.run.out = scratch
        c.data.globalBatch = perTrainerBatch * world.size
        let diagnostics = try RunDiagnostics.start(c, runFolder: c.run.out, world: world, roles: (0..<world.size).map { "trainer \($0)" })
        let trainer = try Trainer(config: c, trainers: world, quiet: true, progress: .none)
        trainer.diagnostics = diagnostics
        let modes = Mode.allCases
        trainer.stepHook = { k in
            let mode = modes[(k + round) % modes.count]
            FlightRecorder.shared.paused = mode == .off
            Communicator.checksCollectives = mode == .checked
        }
        let flushed = FlightRecorder.shared.flushSeconds
        let history = try trainer.run()
        let flush = (FlightRecorder.shared.flushSeconds - flushed) / Double(c.run.steps)
        try diagnostics.finish(world)
        FlightRecorder.shared.paused = false
        Communicator.checksCollectives = false
        try world.barrier()
        if world.rank == 0 { try? FileManager.default.removeItem(atPath: c.run.out) }
        try world.barrier()
        // Cycles start at an off step: step j with (j + round) mod 3 = 0 (step 0, warming up, left out).
        var cycles: [(off: Double, on: Double, checked: Double)] = []
        var j = 1
        while j + 2 < history.count {
            if (j + round) % modes.count == 0 {
                cycles.append((history[j].stepSeconds, history[j + 1].stepSeconds, history[j + 2].stepSeconds))
                j += 3
            } else {
                j += 1
            }
        }
        return (cycles, flush)
    }

    public func run() throws -> Result {
        var times: [Mode: [Double]] = [:], ratios: [Double] = [], checkedRatios: [Double] = [], spans = 0
        let modes = Mode.allCases
        let scratch = NSTemporaryDirectory() + "uso-bench-diag-\(try world.broadcast(Int64(getpid()), root: 0))"
        for round in 0..<rounds {
            // Rotate which goes first, so a trend in the machine's load hits every mode alike.
            var t: [Mode: Double] = [:]
            for k in 0..<modes.count {
                let mode = modes[(k + round) % modes.count]
                let (seconds, n) = try measure(mode, scratch: scratch)
                t[mode] = seconds
                times[mode, default: []].append(seconds)
                if mode == .on { spans = n }
            }
            ratios.append(t[.on]! / t[.off]!)
            checkedRatios.append(t[.checked]! / t[.off]!)
        }
        // Each cycle's on / off and checked / off, pooled over rounds: neighbouring steps share
        // the machine's state, so the ratios of a cycle see little of its drift.
        var alternating: [Double] = [], alternatingChecked: [Double] = [], flushes: [Double] = []
        for round in 0..<rounds {
            let (cycles, flush) = try alternate(round: round, scratch: scratch)
            alternating += cycles.map { $0.on / $0.off }
            alternatingChecked += cycles.map { $0.checked / $0.off }
            flushes.append(flush)
        }
        // One span's cost, alone: a million begin/end pairs on a private recorder.
        let probe = FlightRecorder()
        try probe.configure(capacity: base.diag.recorderSpans)
        let n = 1_000_000
        let t0 = FlightRecorder.now()
        for i in 0..<n { probe.end(probe.begin(.collective, .comm, sequence: Int64(i), bytes: 4096)) }
        let perSpan = Double(FlightRecorder.now() - t0) / Double(n)
        return Result(onSeconds: median(times[.on]!), offSeconds: median(times[.off]!), checkedSeconds: median(times[.checked]!),
                      ratio: median(ratios), checkedRatio: median(checkedRatios), spansPerStep: Double(spans) / Double(steps),
                      spanNanoseconds: perSpan, alternatingRatio: median(alternating), alternatingCheckedRatio: median(alternatingChecked),
                      flushPerStep: median(flushes))
    }
}
