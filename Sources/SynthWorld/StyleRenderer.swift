import TripletData
import Foundation

/// The stylization expert: renders neutral content in a style. The style owns the colours
/// (a palette mapped by brightness, with some of the content's own colour kept), the
/// background, the texture (paper grain, hatching, wax, chalk, cells, pixels) and the edges
/// (ink outlines, neon glow, soft watercolour pooling, carved woodcut lines).
public enum StyleRenderer {
    public static func render(_ r: Render, _ style: Style, variation: UInt32) -> Canvas {
        let n = r.image.size, count = n * n
        let lum = (0..<count).map { Colour.luminance(r.image.get($0)) }
        let edges = edgeStrength(lum, r.mask, size: n)
        var out = Canvas(size: n)
        let seed = style.textureSeed ^ (variation &* 2_654_435_761)
        for i in 0..<count {
            let p = out.point(i)
            let c = r.image.get(i), m = r.mask[i]
            let pc = paletteColour(style.palette, lum[i])
            let fg = pc * (1 - style.keep) + c * style.keep
            let bg = style.background * (0.8 + 0.25 * min(lum[i] / 0.8, 1.2))
            var v = fg * m + bg * (1 - m)
            let e = edges[i]
            switch style.medium {
            case .watercolor:
                v += (Noise.value(p, scale: 3, seed: seed) - 0.5) * 0.16 * m
                v *= 1 - 0.1 * Noise.value(p, scale: 28, seed: seed &+ 1)
                v *= 1 - 0.25 * e
            case .pencil:
                let dark = 1 - Colour.luminance(v)
                let hatch: Float = sin((p.x + p.y) * Float(n) * 0.9) > 0 ? 1 : 0.45
                let g = 1 - dark * hatch * 0.9 - 0.6 * e
                v = style.background * g + SIMD3(repeating: 0.04) * (1 - g)
            case .ink:
                let level = lum[i] < 0.35 ? 0 : lum[i] < 0.65 ? 1 : 3
                v = m > 0.5 ? style.palette[level] : style.background
                if e > 0.25 { v = SIMD3(0.03, 0.03, 0.05) }
            case .neon:
                v = fg * 0.35 * m + style.background * (1 - m)
                v += style.palette[3] * min(1, e * 1.6)
            case .mosaic, .pixel:
                break   // block-wise below
            case .crayon:
                let streak = Noise.value(SIMD2(p.x * 0.3, p.y * 3), scale: 10, seed: seed)
                v *= 0.8 + 0.35 * streak
                if e > 0.3 && Noise.value(p, scale: 40, seed: seed &+ 2) > 0.35 { v = style.palette[0] }
            case .woodcut:
                let dark = lum[i] < 0.55 && m > 0.5
                let carved = sin(p.y * Float(n) * 0.8) > 0.6
                v = (dark && !carved) || e > 0.2 ? style.palette[0] : style.background
            case .pastel:
                v = v * 0.7 + SIMD3(repeating: 0.3)
                v += (Noise.value(p, scale: 45, seed: seed) - 0.5) * 0.12
            case .charcoal:
                let dark = 1 - Colour.luminance(v)
                let grain = Noise.value(p, scale: 35, seed: seed)
                let g = 1 - min(1, dark * 1.2 + e * 0.7) * (0.7 + 0.3 * grain)
                v = style.background * g + style.palette[0] * 0.3 * (1 - g)
            }
            out.set(i, v)
        }
        switch style.medium {
        case .mosaic: blocks(&out, cell: max(2, n / 16), grout: style.background * 0.45, palette: nil)
        case .pixel: blocks(&out, cell: max(2, n / 12), grout: nil, palette: style.palette + [style.background])
        case .watercolor, .charcoal: blur(&out)
        default: break
        }
        return out
    }

    /// The palette (dark to light) sampled by brightness, piecewise linearly.
    static func paletteColour(_ palette: [SIMD3<Float>], _ l: Float) -> SIMD3<Float> {
        let t = min(max(l, 0), 1) * Float(palette.count - 1)
        let k = min(Int(t), palette.count - 2)
        let f = t - Float(k)
        return palette[k] * (1 - f) + palette[k + 1] * f
    }

    /// Sobel magnitude of the luminance and of the mask, clipped to [0, 1].
    static func edgeStrength(_ lum: [Float], _ mask: [Float], size n: Int) -> [Float] {
        var e = [Float](repeating: 0, count: n * n)
        for y in 1..<(n - 1) {
            for x in 1..<(n - 1) {
                func at(_ a: [Float], _ dx: Int, _ dy: Int) -> Float { a[(y + dy) * n + x + dx] }
                func sobel(_ a: [Float]) -> Float {
                    let gx = at(a, 1, -1) + 2 * at(a, 1, 0) + at(a, 1, 1) - at(a, -1, -1) - 2 * at(a, -1, 0) - at(a, -1, 1)
                    let gy = at(a, -1, 1) + 2 * at(a, 0, 1) + at(a, 1, 1) - at(a, -1, -1) - 2 * at(a, 0, -1) - at(a, 1, -1)
                    return (gx * gx + gy * gy).squareRoot()
                }
                e[y * n + x] = min(1, max(sobel(mask) * 0.5, sobel(lum) * 1.5))
            }
        }
        return e
    }

    /// Averages cells of `cell` pixels; draws grout lines or snaps to the nearest palette colour.
    static func blocks(_ c: inout Canvas, cell: Int, grout: SIMD3<Float>?, palette: [SIMD3<Float>]?) {
        let n = c.size
        for by in stride(from: 0, to: n, by: cell) {
            for bx in stride(from: 0, to: n, by: cell) {
                var sum = SIMD3<Float>.zero, k: Float = 0
                for y in by..<min(n, by + cell) { for x in bx..<min(n, bx + cell) { sum += c.get(y * n + x); k += 1 } }
                var avg = sum / k
                if let palette {
                    avg = palette.min { ((($0 - avg) * ($0 - avg)).sum()) < ((($1 - avg) * ($1 - avg)).sum()) }!
                }
                for y in by..<min(n, by + cell) {
                    for x in bx..<min(n, bx + cell) {
                        let isGrout = grout != nil && (y == by || x == bx)
                        c.set(y * n + x, isGrout ? grout! : avg)
                    }
                }
            }
        }
    }

    /// A 3x3 box blur.
    static func blur(_ c: inout Canvas) {
        let n = c.size, src = c
        for y in 0..<n {
            for x in 0..<n {
                var sum = SIMD3<Float>.zero, k: Float = 0
                for dy in -1...1 {
                    for dx in -1...1 {
                        let yy = y + dy, xx = x + dx
                        if yy >= 0 && yy < n && xx >= 0 && xx < n { sum += src.get(yy * n + xx); k += 1 }
                    }
                }
                c.set(y * n + x, sum / k)
            }
        }
    }
}
