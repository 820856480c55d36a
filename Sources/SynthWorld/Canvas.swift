import TripletData
import Foundation

/// A float RGB image in [0, 1], (size, size, 3) row-major, for the procedural renderers.
public struct Canvas: Sendable {
    public let size: Int
    public var pixels: [Float]

    public init(size: Int, fill: SIMD3<Float> = .zero) {
        self.size = size
        pixels = [Float](repeating: 0, count: size * size * 3)
        for i in 0..<(size * size) { set(i, fill) }
    }

    @inline(__always) public func get(_ i: Int) -> SIMD3<Float> {
        SIMD3(pixels[3 * i], pixels[3 * i + 1], pixels[3 * i + 2])
    }

    @inline(__always) public mutating func set(_ i: Int, _ c: SIMD3<Float>) {
        pixels[3 * i] = c.x; pixels[3 * i + 1] = c.y; pixels[3 * i + 2] = c.z
    }

    /// Blends `c` over pixel i with coverage `a` in [0, 1].
    @inline(__always) public mutating func blend(_ i: Int, _ c: SIMD3<Float>, _ a: Float) {
        guard a > 0 else { return }
        set(i, get(i) * (1 - a) + c * a)
    }

    /// Pixel centre of index i in [-1, 1]^2 coordinates (y down).
    @inline(__always) public func point(_ i: Int) -> SIMD2<Float> {
        let x = i % size, y = i / size
        return SIMD2((Float(x) + 0.5) / Float(size) * 2 - 1, (Float(y) + 0.5) / Float(size) * 2 - 1)
    }

    /// uint8 RGB, HWC.
    public func bytes() -> [UInt8] {
        pixels.map { UInt8((min(max($0, 0), 1) * 255).rounded()) }
    }

    public init(size: Int, bytes: [UInt8]) {
        self.size = size
        pixels = bytes.map { Float($0) / 255 }
    }
}

/// Colour helpers.
public enum Colour {
    public static func hsv(_ h: Float, _ s: Float, _ v: Float) -> SIMD3<Float> {
        let hh = (h - floor(h)) * 6
        let i = Int(hh) % 6, f = hh - floor(hh)
        let p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f))
        switch i {
        case 0: return SIMD3(v, t, p)
        case 1: return SIMD3(q, v, p)
        case 2: return SIMD3(p, v, t)
        case 3: return SIMD3(p, q, v)
        case 4: return SIMD3(t, p, v)
        default: return SIMD3(v, p, q)
        }
    }

    public static func luminance(_ c: SIMD3<Float>) -> Float { 0.299 * c.x + 0.587 * c.y + 0.114 * c.z }

    /// Named colours of the prompt vocabulary, with their hues.
    public static let named: [(name: String, rgb: SIMD3<Float>)] = [
        ("red", SIMD3(0.85, 0.12, 0.12)), ("orange", SIMD3(0.95, 0.55, 0.10)), ("yellow", SIMD3(0.95, 0.85, 0.15)),
        ("green", SIMD3(0.15, 0.65, 0.20)), ("blue", SIMD3(0.15, 0.30, 0.85)), ("purple", SIMD3(0.55, 0.20, 0.70)),
        ("pink", SIMD3(0.95, 0.50, 0.70)), ("brown", SIMD3(0.50, 0.30, 0.15)), ("teal", SIMD3(0.10, 0.55, 0.55)),
        ("white", SIMD3(0.95, 0.95, 0.92)), ("black", SIMD3(0.10, 0.10, 0.12)), ("gray", SIMD3(0.50, 0.50, 0.52)),
    ]
}

/// Deterministic value noise on the plane, for textures (no RNG state: a hash of the lattice).
public enum Noise {
    @inline(__always) static func hash(_ x: Int32, _ y: Int32, _ seed: UInt32) -> Float {
        var h = UInt32(bitPattern: x) &* 374_761_393 &+ UInt32(bitPattern: y) &* 668_265_263 &+ seed &* 2_246_822_519
        h = (h ^ (h >> 13)) &* 1_274_126_177
        h ^= h >> 16
        return Float(h & 0xFFFF) / 65535
    }

    /// Smooth noise in [0, 1] at point p with lattice `scale`.
    public static func value(_ p: SIMD2<Float>, scale: Float, seed: UInt32) -> Float {
        let q = p * scale
        let x0 = floor(q.x), y0 = floor(q.y)
        let fx = q.x - x0, fy = q.y - y0
        let sx = fx * fx * (3 - 2 * fx), sy = fy * fy * (3 - 2 * fy)
        let ix = Int32(x0), iy = Int32(y0)
        let a = hash(ix, iy, seed), b = hash(ix + 1, iy, seed), c = hash(ix, iy + 1, seed), d = hash(ix + 1, iy + 1, seed)
        return (a * (1 - sx) + b * sx) * (1 - sy) + (c * (1 - sx) + d * sx) * sy
    }
}
