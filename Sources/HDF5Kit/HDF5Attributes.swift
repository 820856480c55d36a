import Foundation
internal import CHDF5

/// Variable-length UTF-8 strings, the string type h5py reads as `str`.
enum HDF5Strings {
    static func type() -> hid_t {
        let t = H5Tcopy(chdf5_c_s1())
        H5Tset_size(t, chdf5_variable())
        H5Tset_cset(t, H5T_CSET_UTF8)
        return t
    }

    /// Calls body with a C array of NUL-terminated copies of `strings`.
    static func withCStrings<R>(_ strings: [String], _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        defer { for p in pointers { free(p) } }
        return pointers.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    }
}

/// Scalar attributes (strings and 64-bit integers) on groups and datasets.
enum HDF5Attributes {
    static func set(_ object: hid_t, _ name: String, _ value: String, path: String, object label: String) throws(HDF5Error) {
        try HDF5Library.locked { () throws(HDF5Error) in
            if H5Aexists(object, name) > 0 { H5Adelete(object, name) }
            let type = HDF5Strings.type()
            defer { H5Tclose(type) }
            let space = H5Screate(H5S_SCALAR)
            defer { H5Sclose(space) }
            let a = H5Acreate2(object, name, type, space, chdf5_p_default(), chdf5_p_default())
            guard a >= 0 else { throw HDF5Error.failed(path, "\(label) attribute \(name)", "cannot create") }
            defer { H5Aclose(a) }
            let ok = HDF5Strings.withCStrings([value]) { H5Awrite(a, type, $0) >= 0 }
            guard ok else { throw HDF5Error.failed(path, "\(label) attribute \(name)", "cannot write") }
        }
    }

    static func set(_ object: hid_t, _ name: String, _ value: Int64, path: String, object label: String) throws(HDF5Error) {
        try HDF5Library.locked { () throws(HDF5Error) in
            if H5Aexists(object, name) > 0 { H5Adelete(object, name) }
            let space = H5Screate(H5S_SCALAR)
            defer { H5Sclose(space) }
            let a = H5Acreate2(object, name, chdf5_std_i64le(), space, chdf5_p_default(), chdf5_p_default())
            guard a >= 0 else { throw HDF5Error.failed(path, "\(label) attribute \(name)", "cannot create") }
            defer { H5Aclose(a) }
            var v = value
            guard H5Awrite(a, chdf5_native_int64(), &v) >= 0 else { throw HDF5Error.failed(path, "\(label) attribute \(name)", "cannot write") }
        }
    }

    static func string(_ object: hid_t, _ name: String, path: String, object label: String) throws(HDF5Error) -> String? {
        try HDF5Library.locked { () throws(HDF5Error) -> String? in
            guard H5Aexists(object, name) > 0 else { return nil }
            let a = H5Aopen(object, name, chdf5_p_default())
            guard a >= 0 else { throw HDF5Error.failed(path, "\(label) attribute \(name)", "cannot open") }
            defer { H5Aclose(a) }
            let stored = H5Aget_type(a)
            defer { H5Tclose(stored) }
            guard H5Tget_class(stored) == H5T_STRING else {
                throw HDF5Error(path: path, object: "\(label) attribute \(name)", "is not a string")
            }
            if H5Tis_variable_str(stored) > 0 {
                let type = HDF5Strings.type()
                defer { H5Tclose(type) }
                var pointer: UnsafeMutablePointer<CChar>? = nil
                guard H5Aread(a, type, &pointer) >= 0 else { throw HDF5Error.failed(path, "\(label) attribute \(name)", "cannot read") }
                defer { free(pointer) }
                return pointer.map { String(cString: $0) } ?? ""
            }
            let size = H5Tget_size(stored)
            var buffer = [CChar](repeating: 0, count: size + 1)
            guard H5Aread(a, stored, &buffer) >= 0 else { throw HDF5Error.failed(path, "\(label) attribute \(name)", "cannot read") }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    static func int(_ object: hid_t, _ name: String, path: String, object label: String) throws(HDF5Error) -> Int64? {
        try HDF5Library.locked { () throws(HDF5Error) -> Int64? in
            guard H5Aexists(object, name) > 0 else { return nil }
            let a = H5Aopen(object, name, chdf5_p_default())
            guard a >= 0 else { throw HDF5Error.failed(path, "\(label) attribute \(name)", "cannot open") }
            defer { H5Aclose(a) }
            var v: Int64 = 0
            guard H5Aread(a, chdf5_native_int64(), &v) >= 0 else { throw HDF5Error.failed(path, "\(label) attribute \(name)", "is not an integer") }
            return v
        }
    }
}
