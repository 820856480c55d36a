import Comm
import Foundation
import HDF5Kit
import TensorCore

/// What one rank reports about itself to `uso doctor`.
public struct RankReport: Codable, Sendable, Equatable {
    public var worldRank: Int
    public var role: String
    /// Index among trainers or among reward ranks.
    public var roleIndex: Int
    public var host: String
    public var pid: Int32
    public var threadLevel: String
    public var blasThreads: Int
    public var blasCore: String
    /// Who chose the BLAS kernels, and what OpenBLAS would have run by itself.
    public var blasSelection: BLASCoreSelection.Report
    /// This rank's CPU as its feature flags describe it.
    public var cpu: String
    /// The vector-kernel tier this rank runs, and a USO_KERNELS value it could not honour.
    public var kernelTier: KernelTier
    public var kernelTierProblem: String?
    public var mpiLibrary: String
    public var openBLAS: String
    public var hdf5: String
}

/// The whole job as `uso doctor` sees it: the rank layout, one row per rank, and the
/// versions of the three libraries, with any rank whose versions differ from rank 0's.
public struct DoctorReport: Sendable {
    public let layoutSummary: String
    public let requestedThreadLevel: String
    public let mpiStandard: String
    public let ranks: [RankReport]

    /// Gathers every rank's report on world rank 0. Collective over the world;
    /// returns the report on world rank 0 and nil elsewhere.
    public static func collect(runtime: MPIRuntime, roles: RoleCommunicators) throws -> DoctorReport? {
        let world = roles.world
        let layout = roles.layout
        let mine = RankReport(
            worldRank: world.rank,
            role: roles.role.rawValue,
            roleIndex: layout.trainerIndex(of: world.rank) ?? layout.rewardIndex(of: world.rank) ?? 0,
            host: world.hostName,
            pid: getpid(),
            threadLevel: runtime.providedThreadLevel.description,
            blasThreads: BLASRuntime.threadCount,
            blasCore: BLASRuntime.coreName,
            blasSelection: BLASCoreSelection.report,
            cpu: CPUFeatures.host.description,
            kernelTier: KernelTier.active,
            kernelTierProblem: KernelTier.requestProblem,
            mpiLibrary: firstLine(MPIRuntime.libraryVersion),
            openBLAS: BLASRuntime.configuration,
            hdf5: HDF5Library.versionString)
        let encoded = Array(try JSONEncoder().encode(mine))
        guard let gathered = try world.gather(encoded, root: 0) else { return nil }
        let decoder = JSONDecoder()
        let ranks = try gathered.enumerated().map { rank, bytes in
            do {
                return try decoder.decode(RankReport.self, from: Data(bytes))
            } catch {
                throw DiagnosticsError.malformedReport(rank: rank, detail: "\(error)")
            }
        }
        let standard = MPIRuntime.standardVersion
        return DoctorReport(layoutSummary: layout.summary,
                            requestedThreadLevel: runtime.requestedThreadLevel.description,
                            mpiStandard: "\(standard.major).\(standard.minor)",
                            ranks: ranks)
    }

    /// Ranks whose library versions differ from rank 0's (a mixed installation across hosts).
    public var versionMismatches: [(rank: Int, library: String, value: String)] {
        guard let reference = ranks.first else { return [] }
        var result: [(Int, String, String)] = []
        for r in ranks.dropFirst() {
            if r.mpiLibrary != reference.mpiLibrary { result.append((r.worldRank, "MPI", r.mpiLibrary)) }
            if r.openBLAS != reference.openBLAS { result.append((r.worldRank, "OpenBLAS", r.openBLAS)) }
            if r.hdf5 != reference.hdf5 { result.append((r.worldRank, "HDF5", r.hdf5)) }
        }
        return result
    }

    /// The report as a terminal table, followed by the library versions and any warning.
    public func rendered() -> String {
        var lines: [String] = []
        lines.append("uso doctor: \(layoutSummary)")
        lines.append("")
        let header = ["rank", "role", "host", "pid", "MPI thread level", "BLAS threads", "BLAS core", "chosen by", "kernels"]
        let rows = ranks.map { r in
            [String(r.worldRank), r.role == RankRole.coordinator.rawValue ? "coordinator" : "\(r.role) \(r.roleIndex)",
             r.host, String(r.pid), r.threadLevel, String(r.blasThreads), r.blasSelection.core, r.blasSelection.source.rawValue,
             r.kernelTier.rawValue]
        }
        lines.append(contentsOf: TextTable(header: header, rows: rows).lines())
        lines.append("")
        if let r0 = ranks.first {
            lines.append("Open MPI:  \(r0.mpiLibrary) (MPI standard \(mpiStandard); requested \(requestedThreadLevel))")
            lines.append("OpenBLAS:  \(r0.openBLAS) (core \(r0.blasSelection.core))")
            lines.append("HDF5:      \(r0.hdf5)")
            lines.append("CPU:       \(r0.cpu)")
            lines.append("BLAS core: " + Self.explain(r0.blasSelection))
            lines.append("Kernels:   \(r0.kernelTier.rawValue) (GELU, softmax, norms, RoPE, AdamW; "
                         + (KernelTier.isForced ? "forced by \(KernelTier.variable)" : "the widest tier this CPU runs") + ")")
        }
        let mismatches = versionMismatches
        if mismatches.isEmpty {
            if ranks.count > 1 { lines.append("All \(ranks.count) ranks run the same library versions.") }
        } else {
            lines.append("WARNING: library versions differ between ranks:")
            for m in mismatches { lines.append("  rank \(m.rank): \(m.library) \(m.value)") }
        }
        lines.append(contentsOf: coreWarnings)
        let threaded = ranks.filter { $0.blasThreads > 1 }.map(\.worldRank)
        if !threaded.isEmpty {
            lines.append("WARNING: ranks \(threaded) run more than one BLAS thread; with one rank per core set "
                         + "OPENBLAS_NUM_THREADS=1 (Cluster/launch-local.sh does).")
        }
        lines.append(contentsOf: errors.map { "ERROR: \($0)" })
        return lines.joined(separator: "\n")
    }

    /// Problems that make the job unsafe to run: an OPENBLAS_CORETYPE OpenBLAS does not know.
    public var errors: [String] {
        ranks.flatMap { r in
            [r.blasSelection.unknownRequestError, r.kernelTierProblem].compactMap { $0.map { "rank \(r.worldRank): \($0)" } }
        }
    }

    /// Ranks that run different BLAS kernels, and ranks left on a core older than their CPU allows.
    var coreWarnings: [String] {
        var lines: [String] = []
        let byCore = Dictionary(grouping: ranks, by: \.blasSelection.core)
        if byCore.count > 1 {
            let parts = byCore.keys.sorted().map { core in "\(core) on ranks \(byCore[core]!.map(\.worldRank))" }
            lines.append("WARNING: ranks run different BLAS kernels: " + parts.joined(separator: ", ")
                         + " (mixed CPUs or environments; GEMM speed, and float rounding, differ between them)")
        }
        let tiers = Dictionary(grouping: ranks, by: \.kernelTier)
        if tiers.count > 1 {
            let parts = tiers.keys.sorted { $0.rawValue < $1.rawValue }.map { "\($0.rawValue) on ranks \(tiers[$0]!.map(\.worldRank))" }
            lines.append("WARNING: ranks run different vector-kernel tiers: " + parts.joined(separator: ", "))
        }
        for r in ranks {
            if let fallback = r.blasSelection.remainingFallback { lines.append("WARNING: rank \(r.worldRank): \(fallback)") }
        }
        return lines
    }

    /// One line on who chose the kernels and why.
    static func explain(_ s: BLASCoreSelection.Report) -> String {
        switch s.source {
        case .uso:
            return "\(s.core), chosen by uso from the CPU's features (OpenBLAS alone picked \(s.openBLASPick ?? "an older core"))"
        case .user:
            return "\(s.core), from OPENBLAS_CORETYPE=\(s.requested ?? "")" + (s.best.map { " (the best for this CPU: \($0))" } ?? "")
        case .openBLAS:
            return "\(s.core), OpenBLAS's own choice" + (s.best.map { " (the best for this CPU: \($0))" } ?? "")
        }
    }

    private static func firstLine(_ s: String) -> String {
        String(s.split(separator: "\n").first ?? "").trimmingCharacters(in: .whitespaces)
    }
}

/// Errors of the diagnostics layer.
public enum DiagnosticsError: Error, CustomStringConvertible {
    case malformedReport(rank: Int, detail: String)

    public var description: String {
        switch self {
        case let .malformedReport(rank, detail): return "rank \(rank) sent a report that does not decode: \(detail)"
        }
    }
}
