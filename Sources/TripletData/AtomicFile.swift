import Foundation

/// Writing a file so that a crash never leaves a partial one under the real name: write to
/// a temporary name in the same folder, sync it, rename it over the target, sync the folder.
public enum AtomicFile {
    /// The temporary name `write` uses for `path`.
    public static func temporaryPath(for path: String) -> String {
        let dir = (path as NSString).deletingLastPathComponent
        return (dir.isEmpty ? "." : dir) + "/.\((path as NSString).lastPathComponent).tmp-\(getpid())"
    }

    /// Moves a fully written temporary file into place durably.
    public static func commit(_ temporary: String, to path: String) throws(TripletDataError) {
        try sync(temporary, path)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw TripletDataError(file: path, "cannot rename \(temporary) into place: \(reason)")
        }
        let dir = (path as NSString).deletingLastPathComponent
        try? sync(dir.isEmpty ? "." : dir, path)
    }

    /// Writes `data` to `path` atomically.
    public static func write(_ data: Data, to path: String) throws(TripletDataError) {
        let temporary = temporaryPath(for: path)
        do { try data.write(to: URL(fileURLWithPath: temporary)) } catch {
            throw TripletDataError(file: path, "cannot write \(temporary): \(error.localizedDescription)")
        }
        try commit(temporary, to: path)
    }

    private static func sync(_ file: String, _ reported: String) throws(TripletDataError) {
        let fd = open(file, O_RDONLY)
        guard fd >= 0 else { throw TripletDataError(file: reported, "cannot open \(file) to sync it") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw TripletDataError(file: reported, "fsync of \(file) failed: \(String(cString: strerror(errno)))") }
    }
}
