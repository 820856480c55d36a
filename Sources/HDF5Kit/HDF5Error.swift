internal import CHDF5

/// An HDF5 operation that failed: the file, the object (dataset or attribute), what was
/// attempted, and HDF5's own messages.
public struct HDF5Error: Error, CustomStringConvertible, Sendable, Equatable {
    public let path: String
    public let object: String?
    public let message: String

    public init(path: String, object: String? = nil, _ message: String) {
        self.path = path
        self.object = object
        self.message = message
    }

    public var description: String {
        if let object { return "\(path): \(object): \(message)" }
        return "\(path): \(message)"
    }

    /// HDF5's error stack as text (and clears it).
    static func stackText() -> String {
        var buffer = [CChar](repeating: 0, count: 2048)
        chdf5_error_stack(&buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// An error for a failed call, with HDF5's messages appended.
    static func failed(_ path: String, _ object: String?, _ what: String) -> HDF5Error {
        let stack = stackText()
        return HDF5Error(path: path, object: object, stack.isEmpty ? what : "\(what) (HDF5: \(stack))")
    }
}
