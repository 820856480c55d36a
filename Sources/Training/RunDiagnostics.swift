import Comm
import Config
import FlightRecorder
import Foundation
import TripletData

/// A run's diagnostics folder, `RUN/diag/`: every rank's flight recorder
/// (`rank_RR.jsonl`, world ranks) and `clock.json`, the ranks' clock offsets from world rank
/// 0's, measured at start by ping-pong (the offset at the round trip's midpoint; the residual
/// error is half the shortest round trip), with each rank's role and host.
public struct RunDiagnostics {
    public static let folderName = "diag", clockFile = "clock.json"

    public let folder: String
    public let worldRank: Int

    /// The folder rank `worldRank` flushes into (`start` makes one for a run).
    public init(folder: String, worldRank: Int) {
        self.folder = folder
        self.worldRank = worldRank
    }

    public static func rankFile(_ rank: Int) -> String { String(format: "rank_%02d.jsonl", rank) }

    /// Switches this rank's recorder on (`diag.recorder_spans`), measures the clocks and, on
    /// world rank 0, writes clock.json. Collective over `world`. `roles[r]`: rank r's role.
    public static func start(_ config: RunConfig, runFolder: String, world: Communicator, roles: [String]) throws -> RunDiagnostics {
        let folder = (runFolder as NSString).appendingPathComponent(folderName)
        FlightRecorder.shared.configure(capacity: config.diag.recorderSpans)
        if world.rank == 0 {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            // A fresh start or a resume: this job's records replace what an earlier one left.
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where name.hasPrefix("rank_") {
                try? FileManager.default.removeItem(atPath: (folder as NSString).appendingPathComponent(name))
            }
        }
        let offsets = try measureClocks(world)
        let hosts = try world.allgather(Array(world.hostName.utf8))
        if world.rank == 0 {
            let ranks: [[String: Any]] = (0..<world.size).map { r in
                ["rank": r, "role": roles[r], "host": String(decoding: hosts[r], as: UTF8.self),
                 "offset_ns": offsets[r].offset, "residual_ns": offsets[r].residual]
            }
            let data = try JSONSerialization.data(withJSONObject: ["format": "uso-diag-clock", "ranks": ranks], options: [.prettyPrinted, .sortedKeys])
            try AtomicFile.write(data, to: (folder as NSString).appendingPathComponent(clockFile))
        }
        try world.barrier()
        return RunDiagnostics(folder: folder, worldRank: world.rank)
    }

    /// Rank r's clock minus rank 0's (ns) and the error bound, on rank 0 (zeros elsewhere).
    static func measureClocks(_ world: Communicator) throws -> [(offset: Int64, residual: Int64)] {
        var result = [(offset: Int64, residual: Int64)](repeating: (0, 0), count: world.size)
        let tag = 7001
        for r in 1..<max(1, world.size) {
            var best: (offset: Int64, residual: Int64) = (0, .max)
            for _ in 0..<8 {
                if world.rank == 0 {
                    let t0 = Int64(FlightRecorder.now())
                    try world.send([t0], to: r, tag: tag)
                    let reply = try world.receive(Int64.self, from: .rank(r), tag: .value(tag))
                    let t1 = Int64(FlightRecorder.now())
                    let half = (t1 - t0) / 2
                    if half < best.residual { best = (reply.values[0] - (t0 + half), half) }
                } else if world.rank == r {
                    _ = try world.receive(Int64.self, from: .rank(0), tag: .value(tag))
                    try world.send([Int64(FlightRecorder.now())], to: 0, tag: tag)
                }
            }
            if world.rank == 0 { result[r] = best }
        }
        return result
    }

    /// Appends what this rank recorded since the last flush to its file.
    public func flush() throws {
        guard FlightRecorder.shared.isOn else { return }
        try FlightRecorder.shared.flush(to: (folder as NSString).appendingPathComponent(Self.rankFile(worldRank)))
    }
}
