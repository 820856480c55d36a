import Foundation

/// Writes Float32 tensors as a safetensors file that the `safetensors` Python package and
/// the diffusion ecosystem load.
///
/// The header is padded with spaces to a multiple of 8 bytes (so the data is aligned, as
/// the reference writer does). The file is written to a temporary name in the same folder,
/// synced, and renamed over the target: an interrupted write never leaves a partial file
/// under the real name.
public enum SafeTensorsWriter {
    /// One tensor to write: a name, a shape, and its elements in row-major order. An item
    /// holds what owns its memory, so the memory cannot be freed before the write reads it
    /// (a release build ends a local's lifetime at its last use, which may be before the
    /// write: a bare pointer then reads freed memory).
    public struct Item {
        public let name: String
        public let shape: [Int]
        private enum Elements {
            case owned(UnsafeBufferPointer<Float>, owner: AnyObject)
            case array([Float])
        }
        private let elements: Elements

        /// Elements in memory that `owner` owns (kept alive by the item until written).
        public init(name: String, shape: [Int], data: UnsafeBufferPointer<Float>, owner: AnyObject) {
            self.name = name
            self.shape = shape
            elements = .owned(data, owner: owner)
        }

        /// Elements given as an array (the item keeps the array).
        public init(name: String, shape: [Int], values: [Float]) {
            self.name = name
            self.shape = shape
            elements = .array(values)
        }

        /// The number of elements.
        public var count: Int {
            switch elements {
            case .owned(let p, _): return p.count
            case .array(let a): return a.count
            }
        }

        /// Calls `body` with the elements, their owner alive throughout.
        func withElements<R>(_ body: (UnsafeBufferPointer<Float>) throws(SafeTensorsError) -> R) throws(SafeTensorsError) -> R {
            switch elements {
            case .owned(let p, let owner):
                defer { withExtendedLifetime(owner) {} }
                return try body(p)
            case .array(let a):
                let copy = a
                return try copy.withUnsafeBufferPointer { (p) throws(SafeTensorsError) -> R in try body(p) }
            }
        }
    }

    /// Writes `items` in the given order (names must be unique) with `metadata`, each stored
    /// as `dtype` (F16 and BF16 rounded to nearest, ties to even; NaN stays NaN).
    public static func write(_ items: [Item], metadata: [String: String] = [:], dtype: SafeTensorsDType = .f32,
                             to path: String) throws(SafeTensorsError) {
        let stream = try SafeTensorsStreamWriter(path: path, tensors: items.map { ($0.name, $0.shape, $0.count) }, metadata: metadata, dtype: dtype)
        for item in items {
            try item.withElements { (p) throws(SafeTensorsError) in try stream.append(item.name, p) }
        }
        try stream.finish()
    }

    /// IEEE half precision, rounded to nearest even (Swift's conversion).
    static func float16Bits(_ x: Float) -> UInt16 { Float16(x).bitPattern }

    /// bfloat16: the upper 16 bits of the float, rounded to nearest even; NaN kept quiet.
    static func bfloat16Bits(_ x: Float) -> UInt16 {
        if x.isNaN { return 0x7FC0 }
        let bits = x.bitPattern
        return UInt16((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16)
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}
