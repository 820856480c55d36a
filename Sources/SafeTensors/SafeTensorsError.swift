/// A safetensors file that cannot be read or written, naming the file and, where one is
/// to blame, the tensor.
public struct SafeTensorsError: Error, CustomStringConvertible, Sendable, Equatable {
    public let path: String
    public let tensor: String?
    public let message: String

    public init(path: String, tensor: String? = nil, _ message: String) {
        self.path = path
        self.tensor = tensor
        self.message = message
    }

    public var description: String {
        if let tensor { return "\(path): tensor \"\(tensor)\": \(message)" }
        return "\(path): \(message)"
    }
}
