import TripletData
import Foundation

/// Signed distance functions of the world's shapes in a unit local frame (negative inside).
public enum ShapeFamily: Int, Sendable, CaseIterable, Codable {
    case ball, box, pyramid, star, heart, kite, house, creature

    /// The prompt's noun for the family (words of the text encoder's vocabulary).
    public var noun: String {
        switch self {
        case .ball: return "ball"
        case .box: return "box"
        case .pyramid: return "pyramid"
        case .star: return "star"
        case .heart: return "heart"
        case .kite: return "kite"
        case .house: return "house"
        case .creature: return "creature"
        }
    }

    /// Distance at local point p (the shape fills about [-1, 1]^2), with aspect ratio `aspect`.
    public func distance(_ p: SIMD2<Float>, aspect: Float) -> Float {
        let q = SIMD2(p.x / aspect, p.y)
        switch self {
        case .ball:
            return (q.x * q.x + q.y * q.y).squareRoot() - 0.9
        case .box:
            let d = SIMD2(abs(q.x) - 0.75, abs(q.y) - 0.75)
            return min(max(d.x, d.y), 0) + (SIMD2(max(d.x, 0), max(d.y, 0)) * SIMD2(max(d.x, 0), max(d.y, 0))).sum().squareRoot() - 0.1
        case .pyramid:
            // Triangle with its apex up (y grows downwards) and its base at y = 0.6.
            return max((abs(q.x) * 0.866 - q.y * 0.5 - 0.45), q.y - 0.6)
        case .star:
            let a = atan2(q.y, q.x), r = (q.x * q.x + q.y * q.y).squareRoot()
            return r - (0.55 + 0.35 * cos(5 * a))
        case .heart:
            let x = abs(q.x), y = -q.y + 0.15
            let k = (x * x + y * y - 0.5)
            return k * k * k - x * x * y * y * y
        case .kite:
            return abs(q.x) / 0.7 + abs(q.y) / 0.95 - 1
        case .house:
            // A square body under a roof whose apex is at y = -1 and eaves at y = -0.35.
            let body = max(abs(q.x) - 0.65, abs(q.y - 0.25) - 0.6)
            let slope = (abs(q.x) * 0.65 - 0.8 * (q.y + 1.0)) / 1.03
            let roof = max(slope, max(q.y + 0.35, -(q.y + 1.0)))
            return min(body, roof)
        case .creature:
            let n = pow(abs(q.x), 2.6) + pow(abs(q.y * 1.15), 2.6)
            return pow(n, 1 / 2.6) - 0.85
        }
    }
}

/// Where and how a subject stands in the frame: position, scale, rotation, mirror.
public struct Layout: Sendable, Codable, Equatable {
    /// Centre in [-1, 1]^2 (y down).
    public var center: SIMD2<Float>
    /// Half-size of the subject as a fraction of the frame.
    public var scale: Float
    /// Rotation in radians.
    public var angle: Float
    public var mirrored: Bool

    public init(center: SIMD2<Float>, scale: Float, angle: Float, mirrored: Bool) {
        self.center = center; self.scale = scale; self.angle = angle; self.mirrored = mirrored
    }

    /// The subject's local coordinates of frame point p.
    @inline(__always) public func local(_ p: SIMD2<Float>) -> SIMD2<Float> {
        let d = (p - center) / scale
        let c = cos(-angle), s = sin(-angle)
        var q = SIMD2(c * d.x - s * d.y, s * d.x + c * d.y)
        if mirrored { q.x = -q.x }
        return q
    }

    /// Words for the prompt: where the subject is, how big, how turned.
    public var words: String {
        var parts: [String] = []
        let h = center.x < -0.25 ? "left" : center.x > 0.25 ? "right" : ""
        let v = center.y < -0.25 ? "top" : center.y > 0.25 ? "bottom" : ""
        let place = [v, h].filter { !$0.isEmpty }.joined(separator: " ")
        parts.append(place.isEmpty ? "in the center" : "at the \(place)")
        if scale < 0.35 { parts.insert("small", at: 0) } else if scale > 0.55 { parts.insert("large", at: 0) }
        if abs(angle) > 0.5 { parts.append("tilted") }
        return parts.joined(separator: " ")
    }
}
