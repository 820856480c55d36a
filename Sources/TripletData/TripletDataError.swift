import HDF5Kit

/// Bad data: names the file, the dataset (or entry) and what is wrong.
public struct TripletDataError: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    public let dataset: String?
    public let message: String

    public init(file: String, dataset: String? = nil, _ message: String) {
        self.file = file
        self.dataset = dataset
        self.message = message
    }

    init(_ e: HDF5Error) {
        self.init(file: e.path, dataset: e.object, e.message)
    }

    public var description: String {
        if let dataset { return "\(file): \(dataset): \(message)" }
        return "\(file): \(message)"
    }
}
