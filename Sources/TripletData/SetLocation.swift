import Foundation

/// Where the sets a command names are: a manifest, a set folder (its manifest.json), or a
/// data folder such as `uso data synth --out`'s with one set per subfolder.
public enum SetLocation {
    /// The manifests under `path`: the path itself if it is a manifest or a set folder, else
    /// the sets one level down, in name order. Never empty: a path without one is an error.
    public static func manifests(under path: String) throws(TripletDataError) -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw TripletDataError(file: path, "no such file or folder")
        }
        if !isDir.boolValue { return [path] }
        let direct = Manifest.path(in: path)
        if FileManager.default.fileExists(atPath: direct) { return [direct] }
        let found = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
            .map { Manifest.path(in: (path as NSString).appendingPathComponent($0)) }
            .filter { FileManager.default.fileExists(atPath: $0) }
        guard !found.isEmpty else { throw TripletDataError(file: path, "holds no manifest.json, nor sets with one") }
        return found
    }

    /// The first set under `path` (a set folder or manifest names exactly one).
    public static func set(under path: String) throws(TripletDataError) -> String {
        let found = try manifests(under: path)
        guard let first = found.first else { throw TripletDataError(file: path, "holds no set") }
        return first
    }

    /// The triplet set under `path` (in a data folder, the one of kind triplets).
    public static func tripletSet(under path: String) throws(TripletDataError) -> String {
        for m in try manifests(under: path) where try Manifest.read(m).kind == .triplets { return m }
        throw TripletDataError(file: path, "holds no triplet set (generation and evaluation read a set's held-out triplets)")
    }

    /// The set of `kind` under `path` (in a data folder, the one of that kind).
    public static func set(of kind: ShardKind, under path: String) throws(TripletDataError) -> String {
        for m in try manifests(under: path) where try Manifest.read(m).kind == kind { return m }
        throw TripletDataError(file: path, "holds no \(kind.rawValue) set")
    }
}
