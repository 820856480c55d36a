import Foundation

/// A JSON decoding error said the way a person reads a file: the key path (`shards[0].count`)
/// and what was wrong there, instead of Swift's `DecodingError` dump with its coding-path
/// structs and `Optional(...)` values.
public struct DecodingProblem: CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String

    public init(_ error: DecodingError) {
        func render(_ codingPath: [any CodingKey]) -> String {
            var s = ""
            for k in codingPath {
                if let i = k.intValue { s += "[\(i)]" } else { s += s.isEmpty ? k.stringValue : ".\(k.stringValue)" }
            }
            return s
        }
        switch error {
        case .typeMismatch(let type, let c):
            path = render(c.codingPath); problem = "is not \(Self.article(type))"
        case .valueNotFound(let type, let c):
            path = render(c.codingPath); problem = "is null; expected \(Self.article(type))"
        case .keyNotFound(let key, let c):
            let parent = render(c.codingPath)
            path = parent.isEmpty ? key.stringValue : parent + "." + key.stringValue
            problem = "is missing"
        case .dataCorrupted(let c):
            path = render(c.codingPath)
            let underlying = (c.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            problem = (path.isEmpty ? "" : "is wrong: ") + (underlying ?? c.debugDescription)
        @unknown default:
            path = ""; problem = "\(error)"
        }
    }

    private static func article(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt64.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default: return "a \(type)".replacingOccurrences(of: "Swift.", with: "")
        }
    }

    public var description: String { path.isEmpty ? problem : "\(path) \(problem)" }
}
