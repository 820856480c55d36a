import TripletData
import Foundation

/// A render of content before any style: the image and the subject's coverage mask.
public struct Render: Sendable {
    public var image: Canvas
    /// Coverage of the subject (body and accessory) per pixel, in [0, 1].
    public var mask: [Float]
}

/// The de-stylization expert's output: a subject rendered "as a photo", with its true
/// colours, shading, pattern, eyes and accessory, on a neutral studio background with a
/// soft shadow, at a given layout.
public enum NeutralRenderer {
    public static func render(_ s: Subject, _ layout: Layout, size: Int, variation: UInt32) -> Render {
        var canvas = Canvas(size: size)
        var mask = [Float](repeating: 0, count: size * size)
        let tint = SIMD3<Float>(Noise.hash(1, 2, variation), Noise.hash(3, 4, variation), Noise.hash(5, 6, variation)) * 0.06
        let pixelLocal = (2 / Float(size)) / layout.scale
        for i in 0..<(size * size) {
            let p = canvas.point(i)
            // Background: a soft vertical gradient with a little grain.
            let g = 0.5 + 0.5 * p.y
            var c = SIMD3<Float>(0.84, 0.83, 0.80) * (1 - g) + SIMD3<Float>(0.66, 0.64, 0.60) * g + tint
            c += (Noise.value(p, scale: 24, seed: variation) - 0.5) * 0.04
            // Shadow under the subject.
            let sp = (p - layout.center - SIMD2(0, layout.scale * 0.95)) / SIMD2(layout.scale * 0.8, layout.scale * 0.2)
            let shadow = max(0, 1 - (sp * sp).sum())
            c *= 1 - 0.3 * shadow
            canvas.set(i, c)

            let q = layout.local(p)
            // Body.
            let d = s.family.distance(q, aspect: s.aspect)
            let cover = min(max(0.5 - d / pixelLocal, 0), 1)
            if cover > 0 {
                var colour = s.primaryRGB
                if onPattern(s.pattern, q) { colour = s.secondaryRGB }
                let light = 0.78 + 0.3 * min(max(-(q.x + q.y) * 0.3 + 0.3, 0), 1)
                let rim = 0.75 + 0.25 * min(max(-d * 5, 0), 1)
                colour *= light * rim
                colour = eyes(s, q, colour)
                canvas.blend(i, colour, cover)
                mask[i] = max(mask[i], cover)
            }
            // Accessory.
            if let (acc, colour) = accessory(s, q, pixelLocal) {
                canvas.blend(i, colour, acc)
                mask[i] = max(mask[i], acc)
            }
        }
        return Render(image: canvas, mask: mask)
    }

    static func onPattern(_ pattern: SubjectPattern, _ q: SIMD2<Float>) -> Bool {
        switch pattern {
        case .plain: return false
        case .striped: return sin(q.y * 9) > 0.35
        case .spotted:
            let cell = SIMD2((q.x / 0.5).rounded(), (q.y / 0.5).rounded()) * 0.5
            return ((q - cell) * (q - cell)).sum() < 0.13 * 0.13
        case .checkered: return (Int(floor(q.x * 2.5)) + Int(floor(q.y * 2.5))) & 1 == 0
        }
    }

    static func eyes(_ s: Subject, _ q: SIMD2<Float>, _ colour: SIMD3<Float>) -> SIMD3<Float> {
        let centres: [SIMD2<Float>] = s.eyes == 2 ? [SIMD2(-0.3, -0.2), SIMD2(0.3, -0.2)] : s.eyes == 1 ? [SIMD2(0, -0.2)] : []
        for e in centres {
            let r = ((q - e) * (q - e)).sum().squareRoot()
            if r < 0.07 { return SIMD3(0.05, 0.05, 0.06) }
            if r < 0.14 { return SIMD3(0.97, 0.97, 0.97) }
        }
        return colour
    }

    static func accessory(_ s: Subject, _ q: SIMD2<Float>, _ pixel: Float) -> (Float, SIMD3<Float>)? {
        switch s.accessory {
        case .none: return nil
        case .hat:
            let h = q - SIMD2(0, -1.05)
            // A cone: apex up (y grows downwards), brim at h.y = 0.25.
            let d = max(abs(h.x) * 0.9 - h.y * 0.45 - 0.28, h.y - 0.25)
            let a = min(max(0.5 - d / pixel, 0), 1)
            return a > 0 ? (a, s.secondaryRGB * 0.9) : nil
        case .antenna:
            let stick = max(abs(q.x) - 0.05, abs(q.y + 1.1) - 0.2)
            let ball = ((q - SIMD2(0, -1.35)) * (q - SIMD2(0, -1.35))).sum().squareRoot() - 0.12
            let d = min(stick, ball)
            let a = min(max(0.5 - d / pixel, 0), 1)
            return a > 0 ? (a, ball < stick ? s.secondaryRGB : SIMD3(0.2, 0.2, 0.22)) : nil
        }
    }
}
