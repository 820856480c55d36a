internal import CHDF5

/// Element types stored in datasets and attributes.
public enum HDF5ElementKind: String, Sendable {
    case uint8, int32, int64, float32, float64, string
}

/// A Swift scalar with an HDF5 native type.
public protocol HDF5Scalar: BitwiseCopyable, Sendable {
    static var hdf5Kind: HDF5ElementKind { get }
    static var zero: Self { get }
}

extension UInt8: HDF5Scalar { public static var hdf5Kind: HDF5ElementKind { .uint8 }; public static var zero: UInt8 { 0 } }
extension Int32: HDF5Scalar { public static var hdf5Kind: HDF5ElementKind { .int32 }; public static var zero: Int32 { 0 } }
extension Int64: HDF5Scalar { public static var hdf5Kind: HDF5ElementKind { .int64 }; public static var zero: Int64 { 0 } }
extension Float: HDF5Scalar { public static var hdf5Kind: HDF5ElementKind { .float32 }; public static var zero: Float { 0 } }
extension Double: HDF5Scalar { public static var hdf5Kind: HDF5ElementKind { .float64 }; public static var zero: Double { 0 } }

extension HDF5ElementKind {
    /// The native memory type.
    var nativeType: hid_t {
        switch self {
        case .uint8: return chdf5_native_uint8()
        case .int32: return chdf5_native_int32()
        case .int64: return chdf5_native_int64()
        case .float32: return chdf5_native_float()
        case .float64: return chdf5_native_double()
        case .string: return -1
        }
    }

    /// The little-endian file type (portable between machines).
    var fileType: hid_t {
        switch self {
        case .uint8: return chdf5_std_u8le()
        case .int32: return chdf5_std_i32le()
        case .int64: return chdf5_std_i64le()
        case .float32: return chdf5_ieee_f32le()
        case .float64: return chdf5_ieee_f64le()
        case .string: return -1
        }
    }

    /// The kind of a dataset's stored type, or nil for types this module does not read.
    init?(storedType t: hid_t) {
        switch H5Tget_class(t) {
        case H5T_STRING: self = .string
        case H5T_FLOAT: self = H5Tget_size(t) == 4 ? .float32 : .float64
        case H5T_INTEGER:
            let signed = H5Tget_sign(t) == H5T_SGN_2
            switch (H5Tget_size(t), signed) {
            case (1, false): self = .uint8
            case (4, true): self = .int32
            case (8, true): self = .int64
            default: return nil
            }
        default: return nil
        }
    }
}
