internal import CMPI

/// The element kinds the communication layer moves and reduces.
public enum ScalarKind: String, Sendable, CaseIterable {
    case float32, float64, int32, int64, uint8, uint64

    var datatype: MPI_Datatype {
        switch self {
        case .float32: return cmpi_float()
        case .float64: return cmpi_double()
        case .int32: return cmpi_int32()
        case .int64: return cmpi_int64()
        case .uint8: return cmpi_uint8()
        case .uint64: return cmpi_uint64()
        }
    }
}

/// A Swift type MPI can send and reduce (sum, max, min) without conversion.
///
/// Conformances: `Float`, `Double`, `Int32`, `Int64`, `UInt8` (the byte type of byte
/// messages) and `UInt64`. `Int` is not one: say which width you mean.
public protocol MPIScalar: BitwiseCopyable, Comparable, Sendable {
    static var scalarKind: ScalarKind { get }
    static var zero: Self { get }
}

extension Float: MPIScalar {
    public static var scalarKind: ScalarKind { .float32 }
}
extension Double: MPIScalar {
    public static var scalarKind: ScalarKind { .float64 }
}
extension Int32: MPIScalar {
    public static var scalarKind: ScalarKind { .int32 }
}
extension Int64: MPIScalar {
    public static var scalarKind: ScalarKind { .int64 }
}
extension UInt8: MPIScalar {
    public static var scalarKind: ScalarKind { .uint8 }
}
extension UInt64: MPIScalar {
    public static var scalarKind: ScalarKind { .uint64 }
}

/// A reduction applied element-wise across ranks.
public enum ReduceOp: String, Sendable, CaseIterable {
    case sum, max, min

    var handle: MPI_Op {
        switch self {
        case .sum: return cmpi_op_sum()
        case .max: return cmpi_op_max()
        case .min: return cmpi_op_min()
        }
    }
}

/// Which ranks a receive accepts a message from.
public enum Source: Sendable, Equatable {
    case any
    case rank(Int)

    var mpiValue: Int32 {
        switch self {
        case .any: return cmpi_any_source()
        case .rank(let r): return Int32(truncatingIfNeeded: r)
        }
    }

    var peer: Int? {
        if case .rank(let r) = self { return r }
        return nil
    }
}

/// Which tags a receive accepts.
public enum Tag: Sendable, Equatable {
    case any
    case value(Int)

    var mpiValue: Int32 {
        switch self {
        case .any: return cmpi_any_tag()
        case .value(let t): return Int32(truncatingIfNeeded: t)
        }
    }
}
