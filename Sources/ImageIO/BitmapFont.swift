/// A 3 x 5 pixel font of this project's own drawing: lower-case letters (upper case draws
/// as lower case), digits and common punctuation; anything else draws as a small box. Used
/// to caption contact sheets, at an integer scale.
public enum BitmapFont {
    public static let glyphWidth = 3, glyphHeight = 5

    static let glyphs: [Character: String] = [
        "a": ".#.#.#####.##.#", "b": "##.#.###.#.###.", "c": ".###..#..#...##", "d": "##.#.##.##.###.",
        "e": "####..##.#..###", "f": "####..##.#..#..", "g": ".###..#.##.#.##", "h": "#.##.#####.##.#",
        "i": "###.#..#..#.###", "j": "..#..#..##.#.#.", "k": "#.##.###.#.##.#", "l": "#..#..#..#..###",
        "m": "#.########.##.#", "n": "##.#.##.##.##.#", "o": ".#.#.##.##.#.#.", "p": "##.#.###.#..#..",
        "q": ".#.#.##.###..##", "r": "##.#.###.#.##.#", "s": ".###...#...###.", "t": "###.#..#..#..#.",
        "u": "#.##.##.##.####", "v": "#.##.##.##.#.#.", "w": "#.##.########.#", "x": "#.##.#.#.#.##.#",
        "y": "#.##.#.#..#..#.", "z": "###..#.#.#..###", "0": "####.##.##.####", "1": ".#.##..#..#.###",
        "2": "##...#.#.#..###", "3": "##...#.#...###.", "4": "#.##.####..#..#", "5": "####..##...###.",
        "6": ".###..####.####", "7": "###..#.#..#..#.", "8": "####.#####.####", "9": "####.####..###.",
        ".": ".............#.", ",": "..........#.#..", "-": "......###......", ":": "....#.....#....",
        "'": ".#..#..........", "/": "..#..#.#.#..#..", "(": ".#.#..#..#...#.", ")": ".#...#..#..#.#.",
        "+": "....#.###.#....", "=": "...###...###...", "_": "............###", "?": "##...#.#.....#.",
        "!": ".#..#..#.....#.", "#": "#.#####.#####.#", "%": "#.#..#.#.#..#.#", "[": "##.#..#..#..##.", "]": ".##..#..#..#.##", " ": "...............",
    ]

    /// Whether pixel (x, y) of `c`'s glyph is set.
    static func pixel(_ c: Character, _ x: Int, _ y: Int) -> Bool {
        let key = Character(c.lowercased())
        guard let rows = glyphs[key] else {
            return x == 0 || x == 2 || y == 0 || y == 4   // unknown: a box
        }
        let bits = Array(rows)   // 15 characters: 5 rows of 3
        return bits[y * 3 + x] == "#"
    }

    /// Width in pixels of `text` at `scale` (one blank column between glyphs).
    public static func width(of text: String, scale: Int) -> Int { text.count * (glyphWidth + 1) * scale }

    /// Draws `text` with its top-left at (x, y).
    public static func draw(_ text: String, into image: inout RGBImage, x: Int, y: Int, scale: Int = 2,
                            colour: (UInt8, UInt8, UInt8) = (20, 20, 20)) {
        for (k, c) in text.enumerated() {
            for gy in 0..<glyphHeight {
                for gx in 0..<glyphWidth where pixel(c, gx, gy) {
                    for sy in 0..<scale {
                        for sx in 0..<scale {
                            let px = x + (k * (glyphWidth + 1) + gx) * scale + sx, py = y + gy * scale + sy
                            guard px >= 0, py >= 0, px < image.width, py < image.height else { continue }
                            let o = (py * image.width + px) * 3
                            image.pixels[o] = colour.0; image.pixels[o + 1] = colour.1; image.pixels[o + 2] = colour.2
                        }
                    }
                }
            }
        }
    }

    /// `text` broken into lines of at most `width` pixels at `scale`, at spaces where possible.
    public static func wrap(_ text: String, width: Int, scale: Int) -> [String] {
        let perLine = max(1, width / ((glyphWidth + 1) * scale))
        var lines: [String] = [], current = ""
        for word in text.split(separator: " ", omittingEmptySubsequences: false).map(String.init) {
            var w = word
            while w.count > perLine {
                if !current.isEmpty { lines.append(current); current = "" }
                lines.append(String(w.prefix(perLine)))
                w = String(w.dropFirst(perLine))
            }
            if current.isEmpty { current = w } else if current.count + 1 + w.count <= perLine { current += " " + w } else {
                lines.append(current)
                current = w
            }
        }
        if !current.isEmpty || lines.isEmpty { lines.append(current) }
        return lines
    }
}

/// A grid of captioned images: columns under headers, one row per item, caption lines
/// beneath each row. `uso data sheet` and `uso generate` write these for people to look at.
public struct ContactSheet {
    public var headers: [String]
    public var rows: [(images: [RGBImage], caption: String)] = []
    public var scale: Int
    public var captionLines = 2

    public init(headers: [String], scale: Int) {
        self.headers = headers
        self.scale = scale
    }

    public mutating func add(_ images: [RGBImage], caption: String) { rows.append((images, caption)) }

    public func render() -> RGBImage {
        let cell = (rows.first?.images.first?.width ?? 32) * scale
        let pad = 6, text = 2, lineHeight = (BitmapFont.glyphHeight + 2) * text
        let columns = max(headers.count, rows.map(\.images.count).max() ?? 0)
        let width = pad + columns * (cell + pad)
        let rowHeight = cell + pad + captionLines * lineHeight + pad
        let height = pad + lineHeight + pad + rows.count * rowHeight
        var sheet = RGBImage(width: width, height: height, fill: (250, 250, 247))
        for (c, h) in headers.enumerated() {
            BitmapFont.draw(h, into: &sheet, x: pad + c * (cell + pad), y: pad, scale: text, colour: (90, 90, 90))
        }
        for (r, row) in rows.enumerated() {
            let top = pad + lineHeight + pad + r * rowHeight
            for (c, img) in row.images.enumerated() {
                sheet.paste(img.resized(width: cell / scale, height: cell / scale), x: pad + c * (cell + pad), y: top, scale: scale)
            }
            let lines = BitmapFont.wrap(row.caption, width: width - 2 * pad, scale: text).prefix(captionLines)
            for (k, line) in lines.enumerated() {
                BitmapFont.draw(line, into: &sheet, x: pad, y: top + cell + pad / 2 + k * lineHeight, scale: text)
            }
        }
        return sheet
    }
}
