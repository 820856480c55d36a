/// What a shard's samples are.
public enum ShardKind: String, Sendable, Codable, CaseIterable {
    /// <style reference, content reference, stylized target, prompt>: the uso stage.
    case triplets
    /// <image, prompt> text-to-image pairs: the base stage.
    case pairs
    /// <image, style label>: the csd stage.
    case styles

    /// The image datasets a shard of this kind holds.
    public var imageDatasets: [String] {
        switch self {
        case .triplets: return ["target", "style_reference", "content_reference"]
        case .pairs, .styles: return ["target"]
        }
    }
}

/// Whether a triplet's content reference keeps the target's layout.
public enum LayoutFlag: UInt8, Sendable, Codable, CaseIterable {
    case preserved = 0
    case shifted = 1
    /// Not a triplet.
    case none = 255
}

/// Training data or the held-out evaluation bench.
public enum Split: UInt8, Sendable, Codable, CaseIterable {
    case train = 0
    case eval = 1

    public var name: String { self == .train ? "train" : "eval" }
}

/// One sample as stored: images are uint8 RGB, (resolution, resolution, 3), row-major (HWC).
/// A triplet may lack a reference (an imported subject-only entry has no style reference):
/// the shard then stores a black image and clears the reference's bit in `references`
/// (bit 0: content reference present, bit 1: style reference present).
public struct ShardRecord: Sendable, Equatable {
    /// Unique within a set; the key of all of the sample's randomness.
    public var sampleID: Int64
    public var target: [UInt8]
    public var styleReference: [UInt8]?
    public var contentReference: [UInt8]?
    public var prompt: String
    /// -1 when the sample has no subject (or no style).
    public var subjectID: Int32
    public var styleID: Int32
    public var layout: LayoutFlag
    public var split: Split

    public init(sampleID: Int64, target: [UInt8], styleReference: [UInt8]? = nil, contentReference: [UInt8]? = nil,
                prompt: String, subjectID: Int32 = -1, styleID: Int32 = -1, layout: LayoutFlag = .none, split: Split = .train) {
        self.sampleID = sampleID; self.target = target; self.styleReference = styleReference
        self.contentReference = contentReference; self.prompt = prompt; self.subjectID = subjectID
        self.styleID = styleID; self.layout = layout; self.split = split
    }
}

/// The shard format's constants.
public enum ShardFormat {
    public static let name = "uso-shard"
    public static let version: Int64 = 1
    public static let checksumAlgorithm = "crc32 (zlib) of the dataset's bytes in row-major order; strings: each UTF-8 string then a NUL byte"
    /// Every dataset of a shard of `kind`, in the order they are written.
    public static func datasets(_ kind: ShardKind) -> [String] {
        ["sample_id"] + kind.imageDatasets + ["prompt", "subject_id", "style_id", "layout", "split", "references"]
    }
}
