/// A config file that cannot be used: names the file, the key, and what is allowed.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file (or "<command line>", "<string>") the value came from.
    public let source: String
    /// The full key, e.g. "cluster.reward_ranks"; nil for whole-document errors.
    public let key: String?
    /// What is wrong and what is allowed.
    public let message: String

    public init(source: String, key: String?, message: String) {
        self.source = source
        self.key = key
        self.message = message
    }

    public var description: String {
        if let key { return "\(source): \(key): \(message)" }
        return "\(source): \(message)"
    }
}
