import Comm
import Config
import FlightRecorder
import Foundation
import TripletData

/// A run's diagnostics folder, `RUN/diag/`: every rank's flight recorder (`rank_RR.jsonl`,
/// world ranks), `clock.json` (the ranks' clock offsets from world rank 0's, measured at
/// start by ping-pong: the offset at the round trip's midpoint, the residual error half the
/// shortest round trip, with each rank's role and host), the live boards the stall inspector
/// reads (`live/rank_RR.board`, removed at a clean end) and its reports (`stalls_RR.jsonl`).
public final class RunDiagnostics {
    public static let folderName = "diag", clockFile = "clock.json", liveFolder = "live"

    public let folder: String
    public let worldRank: Int
    let inspector: StallInspector?

    init(folder: String, worldRank: Int, inspector: StallInspector?) {
        self.folder = folder
        self.worldRank = worldRank
        self.inspector = inspector
    }

    public static func rankFile(_ rank: Int) -> String { String(format: "rank_%02d.jsonl", rank) }

    /// Switches this rank's recorder on (`diag.recorder_spans`, its ring in a board file),
    /// measures the clocks, writes clock.json (world rank 0) and starts the stall inspector;
    /// sets `diag.check_collectives`. Collective over `world`. `roles[r]`: rank r's role.
    public static func start(_ config: RunConfig, runFolder: String, world: Communicator, roles: [String]) throws -> RunDiagnostics {
        Communicator.checksCollectives = config.diag.checkCollectives
        let folder = (runFolder as NSString).appendingPathComponent(folderName)
        let live = (folder as NSString).appendingPathComponent(liveFolder)
        if world.rank == 0 {
            try FileManager.default.createDirectory(atPath: live, withIntermediateDirectories: true)
            // A fresh start or a resume: this job's records replace what an earlier one left.
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            where name.hasPrefix("rank_") || name.hasPrefix("stalls_") || name == "stall-dump.lock" {
                try? FileManager.default.removeItem(atPath: (folder as NSString).appendingPathComponent(name))
            }
            for name in (try? FileManager.default.contentsOfDirectory(atPath: live)) ?? [] {
                try? FileManager.default.removeItem(atPath: (live as NSString).appendingPathComponent(name))
            }
        }
        try world.barrier()
        let hosts = try world.allgather(Array(world.hostName.utf8)).map { String(decoding: $0, as: UTF8.self) }
        let spans = config.diag.recorderSpans
        let board = (path: (live as NSString).appendingPathComponent(SharedBoard.fileName(rank: world.rank)), rank: world.rank,
                     role: roles[world.rank], host: hosts[world.rank])
        do { try FlightRecorder.shared.configure(capacity: spans, board: spans > 0 ? board : nil) } catch {
            // Without a board (a read-only or full run folder) the ring stays private: recorded, not inspectable.
            FileHandle.standardError.write(Data("uso: rank \(world.rank): \(error); the stall inspector cannot read this rank\n".utf8))
            try FlightRecorder.shared.configure(capacity: spans)
        }
        let measured = try measureClocks(world)
        var offsets = measured.map(\.offset)
        try world.broadcast(&offsets, root: 0)
        if world.rank == 0 {
            let ranks: [[String: Any]] = (0..<world.size).map { r in
                ["rank": r, "role": roles[r], "host": hosts[r], "offset_ns": measured[r].offset, "residual_ns": measured[r].residual]
            }
            let data = try JSONSerialization.data(withJSONObject: ["format": "uso-diag-clock", "ranks": ranks], options: [.prettyPrinted, .sortedKeys])
            try AtomicFile.write(data, to: (folder as NSString).appendingPathComponent(clockFile))
        }
        var inspector: StallInspector? = nil
        if spans > 0 {
            let ranks = (0..<world.size).map { StallInspector.Rank(role: roles[$0], host: hosts[$0], offset: offsets[$0]) }
            inspector = StallInspector(folder: folder, worldRank: world.rank, ranks: ranks,
                                       warnSeconds: config.diag.stallWarnSeconds, abortSeconds: config.diag.stallAbortSeconds)
            inspector?.start()
        }
        try world.barrier()
        return RunDiagnostics(folder: folder, worldRank: world.rank, inspector: inspector)
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

    /// A clean end, collective over `world`: the last flush, every rank past its work (the
    /// inspector still watching that barrier), then the boards removed.
    public func finish(_ world: Communicator) throws {
        try flush()
        try world.barrier()
        inspector?.stop()
        FlightRecorder.shared.close(removingBoard: true)
        try world.barrier()
        if worldRank == 0 { try? FileManager.default.removeItem(atPath: (folder as NSString).appendingPathComponent(Self.liveFolder)) }
    }

    /// After an error on this rank: what it was doing is flushed; the inspector stops.
    public func abandon() {
        try? flush()
        inspector?.stop()
    }
}
