import TripletData
import TensorCore

/// Surface patterns of a subject, in its second colour.
public enum SubjectPattern: Int, Sendable, Codable, CaseIterable {
    case plain, striped, spotted, checkered

    public var word: String {
        switch self {
        case .plain: return "plain"
        case .striped: return "striped"
        case .spotted: return "spotted"
        case .checkered: return "checkered"
        }
    }
}

/// What a subject wears on top.
public enum Accessory: Int, Sendable, Codable, CaseIterable {
    case none, hat, antenna
}

/// An identity of the built-in world: a shape family with proportions, two colours, a
/// pattern, eyes and an accessory. Rendered at any layout and in any style, the shape, its
/// parts and (in neutral renders) its colours say which subject it is.
public struct Subject: Sendable, Codable, Equatable {
    public let id: Int
    public let family: ShapeFamily
    public let aspect: Float
    public let primary: Int      // index into Colour.named
    public let secondary: Int
    public let pattern: SubjectPattern
    public let eyes: Int         // 0, 1 or 2
    public let accessory: Accessory

    public var primaryRGB: SIMD3<Float> { Colour.named[primary].rgb }
    public var secondaryRGB: SIMD3<Float> { Colour.named[secondary].rgb }

    /// "red striped box" (plain patterns are not named), plus "with a hat" for a hat.
    public var phrase: String {
        var words = [Colour.named[primary].name]
        if pattern != .plain { words.append(pattern.word) }
        words.append(family.noun)
        if accessory == .hat { words += ["with", "a", "hat"] }
        return words.joined(separator: " ")
    }

    /// `count` distinct subjects drawn from `seed`: every (family, colour, pattern) combination
    /// is used at most once, so no two subjects share their defining triple.
    public static func generate(count: Int, seed: UInt64) -> [Subject] {
        let families = ShapeFamily.allCases.count, colours = Colour.named.count, patterns = SubjectPattern.allCases.count
        let combinations = families * colours * patterns
        precondition(count <= combinations, "at most \(combinations) distinct subjects")
        var rng = RandomStream(seed: seed, purpose: .synthesis, id: 1 << 40)
        // A seeded permutation of the combinations (Fisher-Yates), taken round-robin over families.
        var order = Array(0..<combinations)
        for i in stride(from: combinations - 1, to: 0, by: -1) { order.swapAt(i, rng.nextInt(below: i + 1)) }
        var picked: [Int] = []
        var byFamily = [[Int]](repeating: [], count: families)
        for c in order { byFamily[c % families].append(c) }
        var round = 0
        while picked.count < count {
            for f in 0..<families where picked.count < count && round < byFamily[f].count { picked.append(byFamily[f][round]) }
            round += 1
        }
        return picked.enumerated().map { id, c in
            let family = ShapeFamily(rawValue: c % families)!
            let primary = (c / families) % colours
            let pattern = SubjectPattern(rawValue: c / (families * colours))!
            var secondary = rng.nextInt(below: colours)
            if secondary == primary { secondary = (secondary + 5) % colours }
            return Subject(id: id, family: family, aspect: 0.8 + 0.4 * rng.nextUniform(), primary: primary,
                           secondary: secondary, pattern: pattern, eyes: rng.nextInt(below: 3),
                           accessory: Accessory(rawValue: rng.nextInt(below: 3))!)
        }
    }
}
