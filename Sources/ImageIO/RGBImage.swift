/// An 8-bit RGB image, row-major (height, width, 3).
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "\(pixels.count) bytes for \(width)x\(height) RGB")
        self.width = width; self.height = height; self.pixels = pixels
    }

    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8) = (255, 255, 255)) {
        self.width = width; self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) { pixels[3 * i] = fill.0; pixels[3 * i + 1] = fill.1; pixels[3 * i + 2] = fill.2 }
    }

    /// Copies `image` with its top-left corner at (x, y), scaled up by the integer `scale`.
    public mutating func paste(_ image: RGBImage, x: Int, y: Int, scale: Int = 1) {
        for sy in 0..<(image.height * scale) {
            let ty = y + sy
            guard ty >= 0 && ty < height else { continue }
            for sx in 0..<(image.width * scale) {
                let tx = x + sx
                guard tx >= 0 && tx < width else { continue }
                let s = ((sy / scale) * image.width + sx / scale) * 3, t = (ty * width + tx) * 3
                pixels[t] = image.pixels[s]; pixels[t + 1] = image.pixels[s + 1]; pixels[t + 2] = image.pixels[s + 2]
            }
        }
    }

    /// Resized to (width, height) by area averaging when shrinking and bilinear sampling when growing.
    public func resized(width w: Int, height h: Int) -> RGBImage {
        if w == width && h == height { return self }
        var out = [UInt8](repeating: 0, count: w * h * 3)
        let sx = Double(width) / Double(w), sy = Double(height) / Double(h)
        for y in 0..<h {
            for x in 0..<w {
                var acc = SIMD3<Double>.zero
                if sx > 1 || sy > 1 {
                    // Average the source pixels this output pixel covers.
                    let x0 = Int(Double(x) * sx), x1 = max(x0 + 1, Int(Double(x + 1) * sx))
                    let y0 = Int(Double(y) * sy), y1 = max(y0 + 1, Int(Double(y + 1) * sy))
                    var n = 0.0
                    for yy in y0..<min(y1, height) {
                        for xx in x0..<min(x1, width) {
                            let i = (yy * width + xx) * 3
                            acc += SIMD3(Double(pixels[i]), Double(pixels[i + 1]), Double(pixels[i + 2]))
                            n += 1
                        }
                    }
                    acc /= max(n, 1)
                } else {
                    let fx = max(0, (Double(x) + 0.5) * sx - 0.5), fy = max(0, (Double(y) + 0.5) * sy - 0.5)
                    let x0 = min(Int(fx), width - 1), y0 = min(Int(fy), height - 1)
                    let x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1)
                    let ax = fx - Double(x0), ay = fy - Double(y0)
                    func px(_ xx: Int, _ yy: Int) -> SIMD3<Double> {
                        let i = (yy * width + xx) * 3
                        return SIMD3(Double(pixels[i]), Double(pixels[i + 1]), Double(pixels[i + 2]))
                    }
                    acc = (px(x0, y0) * (1 - ax) + px(x1, y0) * ax) * (1 - ay) + (px(x0, y1) * (1 - ax) + px(x1, y1) * ax) * ay
                }
                let o = (y * w + x) * 3
                out[o] = UInt8(min(255, max(0, acc.x.rounded())))
                out[o + 1] = UInt8(min(255, max(0, acc.y.rounded())))
                out[o + 2] = UInt8(min(255, max(0, acc.z.rounded())))
            }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }

    /// A centre square crop (the largest square in the image).
    public func centerSquare() -> RGBImage {
        let side = min(width, height)
        let x0 = (width - side) / 2, y0 = (height - side) / 2
        var out = [UInt8](repeating: 0, count: side * side * 3)
        for y in 0..<side {
            let s = ((y0 + y) * width + x0) * 3
            out.replaceSubrange((y * side * 3)..<((y + 1) * side * 3), with: pixels[s..<(s + side * 3)])
        }
        return RGBImage(width: side, height: side, pixels: out)
    }
}
