internal import CHDF5

/// A dataset of an `HDF5File`: its shape and element kind, reads and writes of whole rows
/// (ranges of the first dimension), and its attributes.
public final class HDF5Dataset {
    public let file: HDF5File
    public let name: String
    public let shape: [Int]
    public let kind: HDF5ElementKind
    let id: hid_t
    private var isOpen = true

    init(file: HDF5File, name: String, id: hid_t) throws(HDF5Error) {
        self.file = file
        self.name = name
        self.id = id
        let space = H5Dget_space(id)
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        var dims = [hsize_t](repeating: 0, count: max(rank, 1))
        H5Sget_simple_extent_dims(space, &dims, nil)
        shape = Array(dims.prefix(rank)).map { Int($0) }
        let type = H5Dget_type(id)
        defer { H5Tclose(type) }
        guard let k = HDF5ElementKind(storedType: type) else {
            H5Dclose(id)
            isOpen = false
            throw HDF5Error(path: file.path, object: name, "has an element type this reader does not support")
        }
        kind = k
        file.register(self)
    }

    deinit { closeHandle() }

    /// Closes the HDF5 handle once (by the dataset going away or its file closing).
    func closeHandle() {
        _ = try? HDF5Library.locked { () throws(HDF5Error) in
            if isOpen { H5Dclose(id) }
            isOpen = false
        }
    }

    private func ensureOpen() throws(HDF5Error) {
        guard isOpen else { throw HDF5Error(path: file.path, object: name, "its file was closed") }
    }

    /// Elements per row (the product of all but the first dimension).
    public var rowSize: Int { shape.dropFirst().reduce(1, *) }
    public var count: Int { shape.reduce(1, *) }

    private func check<T: HDF5Scalar>(_ type: T.Type, rows: Range<Int>, values: Int, _ what: String) throws(HDF5Error) {
        try ensureOpen()
        guard kind == T.hdf5Kind else {
            throw HDF5Error(path: file.path, object: name, "holds \(kind.rawValue), not \(T.hdf5Kind.rawValue)")
        }
        guard let first = shape.first, rows.lowerBound >= 0, rows.upperBound <= first else {
            throw HDF5Error(path: file.path, object: name, "rows \(rows) are outside its \(shape.first ?? 0) rows")
        }
        guard values == rows.count * rowSize else {
            throw HDF5Error(path: file.path, object: name, "\(what) \(values) values for \(rows.count) rows of \(rowSize)")
        }
    }

    /// Runs body(memory space, file space) for a selection of `rows`.
    private func withSelection<R>(_ rows: Range<Int>, _ body: (hid_t, hid_t) -> R) -> R {
        let fileSpace = H5Dget_space(id)
        defer { H5Sclose(fileSpace) }
        var start = [hsize_t](repeating: 0, count: shape.count)
        var count = shape.map { hsize_t($0) }
        start[0] = hsize_t(rows.lowerBound)
        count[0] = hsize_t(rows.count)
        H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, &start, nil, &count, nil)
        let memSpace = H5Screate_simple(Int32(shape.count), &count, nil)
        defer { H5Sclose(memSpace) }
        return body(memSpace, fileSpace)
    }

    /// Writes `values` into `rows` (all rows by default).
    public func write<T: HDF5Scalar>(_ values: UnsafeBufferPointer<T>, rows: Range<Int>? = nil) throws(HDF5Error) {
        let r = rows ?? 0..<(shape.first ?? 0)
        try check(T.self, rows: r, values: values.count, "cannot write")
        if r.isEmpty { return }
        try HDF5Library.locked { () throws(HDF5Error) in
            let ok = withSelection(r) { mem, fileSpace in
                H5Dwrite(id, T.hdf5Kind.nativeType, mem, fileSpace, chdf5_p_default(), values.baseAddress) >= 0
            }
            guard ok else { throw HDF5Error.failed(file.path, name, "cannot write rows \(r)") }
        }
    }

    /// Reads `rows` (all by default) into `destination`.
    public func read<T: HDF5Scalar>(into destination: UnsafeMutableBufferPointer<T>, rows: Range<Int>? = nil) throws(HDF5Error) {
        let r = rows ?? 0..<(shape.first ?? 0)
        try check(T.self, rows: r, values: destination.count, "cannot read")
        if r.isEmpty { return }
        try HDF5Library.locked { () throws(HDF5Error) in
            let ok = withSelection(r) { mem, fileSpace in
                H5Dread(id, T.hdf5Kind.nativeType, mem, fileSpace, chdf5_p_default(), destination.baseAddress) >= 0
            }
            guard ok else { throw HDF5Error.failed(file.path, name, "cannot read rows \(r) (truncated or corrupted file?)") }
        }
    }

    /// Reads `rows` (all by default) as a new array.
    public func read<T: HDF5Scalar>(_ type: T.Type, rows: Range<Int>? = nil) throws(HDF5Error) -> [T] {
        let r = rows ?? 0..<(shape.first ?? 0)
        var values = [T](repeating: .zero, count: r.count * rowSize)
        try values.withUnsafeMutableBufferPointer { (b) throws(HDF5Error) in try read(into: b, rows: r) }
        return values
    }

    /// Reads a 1-D string dataset.
    public func readStrings() throws(HDF5Error) -> [String] {
        guard kind == .string, shape.count == 1 else {
            throw HDF5Error(path: file.path, object: name, "is not a 1-D string dataset")
        }
        return try HDF5Library.locked { () throws(HDF5Error) -> [String] in
            let type = HDF5Strings.type()
            defer { H5Tclose(type) }
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: shape[0])
            guard H5Dread(id, type, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), &pointers) >= 0 else {
                throw HDF5Error.failed(file.path, name, "cannot read the strings")
            }
            let strings = pointers.map { $0.map { String(cString: $0) } ?? "" }
            let space = H5Dget_space(id)
            H5Dvlen_reclaim(type, space, chdf5_p_default(), &pointers)
            H5Sclose(space)
            return strings
        }
    }

    public func setAttribute(_ attribute: String, _ value: String) throws(HDF5Error) {
        try HDF5Attributes.set(id, attribute, value, path: file.path, object: name)
    }

    public func stringAttribute(_ attribute: String) throws(HDF5Error) -> String? {
        try HDF5Attributes.string(id, attribute, path: file.path, object: name)
    }
}
