import Foundation
internal import CHDF5

extension HDF5Library {
    /// Debian's HDF5 is the serial (not thread-safe) build: every call of this module runs
    /// under this lock, so a prefetch thread and the main thread may both use HDF5.
    static let lock = NSRecursiveLock()
    nonisolated(unsafe) private static var silenced = false

    /// Runs `body` holding the HDF5 lock, with HDF5's own stderr printing turned off.
    static func locked<T>(_ body: () throws(HDF5Error) -> T) throws(HDF5Error) -> T {
        lock.lock()
        defer { lock.unlock() }
        if !silenced {
            chdf5_silence_errors()
            silenced = true
        }
        return try body()
    }
}

/// An HDF5 file: datasets under the root group, and attributes on the root and on datasets.
public final class HDF5File {
    public let path: String
    public let writable: Bool
    let id: hid_t
    private var closed = false
    /// Datasets opened through this file, closed with it (so no handle keeps the file locked).
    private var openDatasets: [WeakDataset] = []

    private struct WeakDataset { weak var dataset: HDF5Dataset? }

    func register(_ d: HDF5Dataset) {
        openDatasets.removeAll { $0.dataset == nil }
        openDatasets.append(WeakDataset(dataset: d))
    }

    private init(path: String, id: hid_t, writable: Bool) {
        self.path = path
        self.id = id
        self.writable = writable
    }

    /// Creates `path`, replacing any file there.
    public static func create(_ path: String) throws(HDF5Error) -> HDF5File {
        try HDF5Library.locked { () throws(HDF5Error) -> HDF5File in
            let id = H5Fcreate(path, chdf5_acc_trunc(), chdf5_p_default(), chdf5_p_default())
            guard id >= 0 else { throw HDF5Error.failed(path, nil, "cannot create the file") }
            return HDF5File(path: path, id: id, writable: true)
        }
    }

    /// Opens an existing file.
    public static func open(_ path: String, writable: Bool = false) throws(HDF5Error) -> HDF5File {
        guard FileManager.default.fileExists(atPath: path) else { throw HDF5Error(path: path, "no such file") }
        return try HDF5Library.locked { () throws(HDF5Error) -> HDF5File in
            let id = H5Fopen(path, writable ? chdf5_acc_rdwr() : chdf5_acc_rdonly(), chdf5_p_default())
            guard id >= 0 else { throw HDF5Error.failed(path, nil, "not a readable HDF5 file (truncated or corrupted?)") }
            return HDF5File(path: path, id: id, writable: writable)
        }
    }

    deinit { try? close() }

    /// Flushes and closes; later calls do nothing.
    public func close() throws(HDF5Error) {
        guard !closed else { return }
        closed = true
        try HDF5Library.locked { () throws(HDF5Error) in
            if writable { H5Fflush(id, H5F_SCOPE_GLOBAL) }
            for w in openDatasets { w.dataset?.closeHandle() }
            openDatasets = []
            guard H5Fclose(id) >= 0 else { throw HDF5Error.failed(path, nil, "cannot close the file") }
        }
    }

    /// Names of the objects in the root group, in creation-independent (name) order.
    public var names: [String] {
        (try? HDF5Library.locked { () throws(HDF5Error) -> [String] in
            var info = H5G_info_t()
            guard H5Gget_info(id, &info) >= 0 else { return [] }
            return (0..<info.nlinks).compactMap { i in
                let n = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, chdf5_p_default())
                guard n >= 0 else { return nil }
                var buffer = [CChar](repeating: 0, count: Int(n) + 1)
                H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buffer, Int(n) + 1, chdf5_p_default())
                return String(decoding: buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
        }) ?? []
    }

    public func contains(_ name: String) -> Bool { names.contains(name) }

    /// Opens dataset `name`.
    public func dataset(_ name: String) throws(HDF5Error) -> HDF5Dataset {
        try HDF5Library.locked { () throws(HDF5Error) -> HDF5Dataset in
            guard H5Lexists(id, name, chdf5_p_default()) > 0 else { throw HDF5Error(path: path, object: name, "no such dataset") }
            let d = H5Dopen2(id, name, chdf5_p_default())
            guard d >= 0 else { throw HDF5Error.failed(path, name, "cannot open the dataset") }
            return try HDF5Dataset(file: self, name: name, id: d)
        }
    }

    /// Creates a dataset of `kind` and `shape`, chunked by `chunk` when given (for example
    /// one image per chunk, so that one sample reads one chunk).
    public func createDataset(_ name: String, kind: HDF5ElementKind, shape: [Int], chunk: [Int]? = nil) throws(HDF5Error) -> HDF5Dataset {
        precondition(kind != .string, "use writeStrings for strings")
        return try HDF5Library.locked { () throws(HDF5Error) -> HDF5Dataset in
            var dims = shape.map { hsize_t($0) }
            let space = H5Screate_simple(Int32(shape.count), &dims, nil)
            defer { H5Sclose(space) }
            let dcpl = H5Pcreate(chdf5_p_dataset_create())
            defer { H5Pclose(dcpl) }
            if let chunk, shape.allSatisfy({ $0 > 0 }) {
                var c = chunk.map { hsize_t($0) }
                H5Pset_chunk(dcpl, Int32(c.count), &c)
            }
            let d = H5Dcreate2(id, name, kind.fileType, space, chdf5_p_default(), dcpl, chdf5_p_default())
            guard d >= 0 else { throw HDF5Error.failed(path, name, "cannot create the dataset") }
            return try HDF5Dataset(file: self, name: name, id: d)
        }
    }

    /// Writes `strings` as a 1-D dataset of variable-length UTF-8 strings.
    public func writeStrings(_ name: String, _ strings: [String]) throws(HDF5Error) -> HDF5Dataset {
        try HDF5Library.locked { () throws(HDF5Error) -> HDF5Dataset in
            let type = HDF5Strings.type()
            defer { H5Tclose(type) }
            var dims = [hsize_t(strings.count)]
            let space = H5Screate_simple(1, &dims, nil)
            defer { H5Sclose(space) }
            let d = H5Dcreate2(id, name, type, space, chdf5_p_default(), chdf5_p_default(), chdf5_p_default())
            guard d >= 0 else { throw HDF5Error.failed(path, name, "cannot create the string dataset") }
            let ok = HDF5Strings.withCStrings(strings) { pointers in
                H5Dwrite(d, type, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), pointers) >= 0
            }
            guard ok else {
                H5Dclose(d)
                throw HDF5Error.failed(path, name, "cannot write the strings")
            }
            return try HDF5Dataset(file: self, name: name, id: d)
        }
    }

    /// Sets a variable-length UTF-8 string attribute on the root group.
    public func setAttribute(_ name: String, _ value: String) throws(HDF5Error) {
        try HDF5Attributes.set(id, name, value, path: path, object: "/")
    }

    /// Sets a 64-bit integer attribute on the root group.
    public func setAttribute(_ name: String, _ value: Int64) throws(HDF5Error) {
        try HDF5Attributes.set(id, name, value, path: path, object: "/")
    }

    /// A root string attribute, or nil when absent.
    public func stringAttribute(_ name: String) throws(HDF5Error) -> String? {
        try HDF5Attributes.string(id, name, path: path, object: "/")
    }

    /// A root integer attribute, or nil when absent.
    public func intAttribute(_ name: String) throws(HDF5Error) -> Int64? {
        try HDF5Attributes.int(id, name, path: path, object: "/")
    }
}
