import TripletData
import TensorCore

/// How a style draws: the treatment of fills, textures and edges.
public enum Medium: Int, Sendable, Codable, CaseIterable {
    case watercolor, pencil, ink, neon, mosaic, pixel, crayon, woodcut, pastel, charcoal

    public var word: String {
        switch self {
        case .watercolor: return "watercolor"
        case .pencil: return "pencil"
        case .ink: return "ink"
        case .neon: return "neon"
        case .mosaic: return "mosaic"
        case .pixel: return "pixel"
        case .crayon: return "crayon"
        case .woodcut: return "woodcut"
        case .pastel: return "pastel"
        case .charcoal: return "charcoal"
        }
    }
}

/// The colour scheme of a style's palette.
public enum PaletteScheme: Int, Sendable, Codable, CaseIterable {
    case vivid, muted, pale, dark

    public var word: String {
        switch self {
        case .vivid: return "vivid"
        case .muted: return "muted"
        case .pale: return "pale"
        case .dark: return "dark"
        }
    }
}

/// A style of the built-in world: a medium, a palette (four colours from a base hue and a
/// scheme), a background colour, how much of the content's own colour survives, and a texture
/// seed. Its name ("muted watercolor") is what prompts call it.
public struct Style: Sendable, Codable, Equatable {
    public let id: Int
    public let medium: Medium
    public let scheme: PaletteScheme
    public let hue: Float
    public let palette: [SIMD3<Float>]   // dark to light
    public let background: SIMD3<Float>
    /// Fraction of the content's colour kept (the rest comes from the palette).
    public let keep: Float
    public let textureSeed: UInt32

    public var name: String { "\(scheme.word) \(medium.word)" }

    /// `count` styles from `seed`: every (medium, scheme) pair at most once, each with its own hue.
    public static func generate(count: Int, seed: UInt64) -> [Style] {
        let media = Medium.allCases.count, schemes = PaletteScheme.allCases.count
        precondition(count <= media * schemes, "at most \(media * schemes) distinct styles")
        var rng = RandomStream(seed: seed, purpose: .synthesis, id: 2 << 40)
        var combos = Array(0..<(media * schemes))
        for i in stride(from: combos.count - 1, to: 0, by: -1) { combos.swapAt(i, rng.nextInt(below: i + 1)) }
        // Every medium before any repeats.
        combos = combos.enumerated().sorted { ($0.element / media, $0.offset) < ($1.element / media, $1.offset) }.map(\.element)
        return (0..<count).map { id in
            let c = combos[id]
            let medium = Medium(rawValue: c % media)!, scheme = PaletteScheme(rawValue: c / media)!
            let hue = rng.nextUniform()
            let (s, vLow, vHigh): (Float, Float, Float)
            switch scheme {
            case .vivid: (s, vLow, vHigh) = (0.85, 0.35, 1.0)
            case .muted: (s, vLow, vHigh) = (0.35, 0.3, 0.85)
            case .pale: (s, vLow, vHigh) = (0.25, 0.65, 1.0)
            case .dark: (s, vLow, vHigh) = (0.6, 0.08, 0.55)
            }
            let palette = (0..<4).map { k -> SIMD3<Float> in
                let t = Float(k) / 3
                return Colour.hsv(hue + 0.08 * Float(k) - 0.12, s * (1 - 0.2 * t), vLow + (vHigh - vLow) * t)
            }
            let background: SIMD3<Float>
            switch medium {
            // Neon is always on a dark ground; charcoal only in a dark scheme.
            case .neon: background = SIMD3(0.04, 0.04, 0.07)
            case .charcoal where scheme == .dark: background = SIMD3(0.04, 0.04, 0.07)
            case .pencil, .ink, .woodcut: background = SIMD3(0.96, 0.95, 0.90)
            default: background = Colour.hsv(hue + 0.5, s * 0.3, min(1, vHigh * 0.95))
            }
            let keep: Float
            switch medium {
            case .pencil, .charcoal, .woodcut: keep = 0.1
            case .ink, .pixel, .neon: keep = 0.25
            default: keep = 0.45
            }
            return Style(id: id, medium: medium, scheme: scheme, hue: hue, palette: palette, background: background,
                         keep: keep, textureSeed: UInt32(truncatingIfNeeded: rng.nextUInt32()))
        }
    }
}
