import Foundation

/// What `uso data inspect` reports about a set: counts by split, subject, style and layout,
/// and every shard's checksums verified.
public struct SetInspection: Sendable {
    public let manifestPath: String
    public let manifest: Manifest
    public var total = 0
    public var excluded = 0
    public var bySplit: [String: Int] = [:]
    public var bySubject: [Int32: Int] = [:]
    public var byStyle: [Int32: Int] = [:]
    public var byLayout: [String: Int] = [:]
    public var verifiedShards = 0

    /// Opens every shard (verifying every dataset's CRC-32) and counts its labels; a bad
    /// shard stops with the file, the dataset and what is wrong.
    public init(manifestPath: String) throws(TripletDataError) {
        self.manifestPath = manifestPath
        manifest = try Manifest.read(manifestPath)
        excluded = manifest.excluded.count
        let excludedSet = Set(manifest.excluded)
        var global = 0
        for i in manifest.shards.indices {
            let r = try manifest.openShard(i, manifestPath: manifestPath, verifyData: true)
            verifiedShards += 1
            for j in 0..<r.count {
                defer { global += 1 }
                if excludedSet.contains(global) { continue }
                total += 1
                bySplit[r.splits[j].name, default: 0] += 1
                if r.subjectIDs[j] >= 0 { bySubject[r.subjectIDs[j], default: 0] += 1 }
                if r.styleIDs[j] >= 0 { byStyle[r.styleIDs[j], default: 0] += 1 }
                if r.layouts[j] != .none { byLayout[r.layouts[j] == .preserved ? "preserved" : "shifted", default: 0] += 1 }
            }
        }
    }

    /// The report as text.
    public func rendered() -> String {
        var lines = ["\(manifestPath): \(manifest.kind.rawValue), \(manifest.resolution) px, \(manifest.shards.count) shard(s), "
                     + "made by \(manifest.createdBy)"]
        lines.append("samples: \(total)" + (excluded > 0 ? " (\(excluded) excluded by the filter)" : ""))
        lines.append("by split: " + bySplit.keys.sorted().map { "\($0) \(bySplit[$0]!)" }.joined(separator: ", "))
        if !byLayout.isEmpty {
            lines.append("by layout: " + byLayout.keys.sorted().map { "\($0) \(byLayout[$0]!)" }.joined(separator: ", "))
        }
        func histogram(_ name: String, _ h: [Int32: Int]) {
            guard !h.isEmpty else { return }
            let counts = h.values
            lines.append("by \(name): \(h.count) distinct, \(counts.min()!) to \(counts.max()!) samples each")
            lines.append("  " + h.keys.sorted().map { "\($0):\(h[$0]!)" }.joined(separator: " "))
        }
        histogram("subject", bySubject)
        histogram("style", byStyle)
        for (k, v) in manifest.notes.sorted(by: { $0.key < $1.key }) { lines.append("note \(k): \(v)") }
        lines.append("checksums: all datasets of all \(verifiedShards) shard(s) verified")
        return lines.joined(separator: "\n")
    }
}
