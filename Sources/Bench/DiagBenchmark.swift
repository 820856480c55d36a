import Comm
import Config
import FlightRecorder
import Foundation
import Training

/// `uso bench diag`: the flight recorder's cost. Training steps with the recorder on
/// (`diag.recorder_spans` spans, flushed every `diag.flush_every` steps into a scratch folder)
/// and off, alternating in rounds inside one mpirun job; the ratio is the median step time on
/// over off. Every rank must call `run`.
public struct DiagBenchmark {
    public struct Result: Sendable {
        public let onSeconds: Double, offSeconds: Double
        /// The median over rounds of each round's on / off ratio.
        public let ratio: Double
        public let spansPerStep: Double
        /// The cost of one span (begin and end) on a recorder of the same size, ns.
        public let spanNanoseconds: Double
    }

    public let world: Communicator
    public let base: RunConfig
    public let perTrainerBatch: Int
    public let steps: Int
    public let rounds: Int

    public init(world: Communicator, base: RunConfig, perTrainerBatch: Int, steps: Int, rounds: Int) {
        self.world = world; self.base = base; self.perTrainerBatch = perTrainerBatch; self.steps = steps; self.rounds = rounds
    }

    func measure(recording: Bool) throws -> (Double, Int) {
        var c = base
        c.run.steps = steps
        c.run.checksumEvery = 0
        c.run.out = NSTemporaryDirectory() + "uso-bench-diag-\(getpid())"
        c.data.globalBatch = perTrainerBatch * world.size
        let folder = c.run.out + "/diag"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        FlightRecorder.shared.configure(capacity: recording ? c.diag.recorderSpans : 0)
        let trainer = try Trainer(config: c, trainers: world, quiet: true, progress: .none)
        trainer.diagnostics = recording ? RunDiagnostics(folder: folder, worldRank: world.rank) : nil
        let history = try trainer.run()
        try trainer.diagnostics?.flush()
        let spans = recording ? ((try? String(contentsOfFile: folder + "/" + RunDiagnostics.rankFile(world.rank), encoding: .utf8))?
            .split(separator: "\n").count ?? 0) : 0
        try world.barrier()
        if world.rank == 0 { try? FileManager.default.removeItem(atPath: c.run.out) }
        try world.barrier()
        return (median(history.dropFirst().map(\.stepSeconds)), spans)
    }

    public func run() throws -> Result {
        var on: [Double] = [], off: [Double] = [], ratios: [Double] = [], spans = 0
        for round in 0..<rounds {
            // Alternate which goes first, so a trend in the machine's load hits both alike.
            let order = round % 2 == 0 ? [true, false] : [false, true]
            var pair: [Bool: Double] = [:]
            for recording in order {
                let (t, n) = try measure(recording: recording)
                pair[recording] = t
                if recording { spans = n }
            }
            on.append(pair[true]!)
            off.append(pair[false]!)
            ratios.append(pair[true]! / pair[false]!)
        }
        FlightRecorder.shared.configure(capacity: 0)
        // One span's cost, alone: a million begin/end pairs on a private recorder.
        let probe = FlightRecorder()
        probe.configure(capacity: base.diag.recorderSpans)
        let n = 1_000_000
        let t0 = FlightRecorder.now()
        for i in 0..<n { probe.end(probe.begin(.collective, .comm, sequence: Int64(i), bytes: 4096)) }
        let perSpan = Double(FlightRecorder.now() - t0) / Double(n)
        return Result(onSeconds: median(on), offSeconds: median(off), ratio: median(ratios), spansPerStep: Double(spans) / Double(steps),
                      spanNanoseconds: perSpan)
    }
}
