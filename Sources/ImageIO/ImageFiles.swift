import Foundation
internal import CJPEG
internal import CPNG
internal import CWebP

/// An image file that cannot be read or written, naming the file.
public struct ImageFileError: Error, CustomStringConvertible, Sendable, Equatable {
    public let path: String
    public let message: String
    public init(path: String, _ message: String) { self.path = path; self.message = message }
    public var description: String { "\(path): \(message)" }
}

/// PNG (libpng), JPEG (libjpeg-turbo) and WebP (libwebp) files as `RGBImage`s.
///
/// An alpha channel (RGBA PNG, WebP with alpha) is dropped, keeping the stored colour of
/// every pixel: what PIL's `Image.convert("RGB")`, the call USO's and UNO's Python loaders
/// make, does; so imported sets hold the pixels those pipelines train on.
public enum ImageFiles {
    /// The formats `read` recognises, by signature.
    public enum Format: String, Sendable { case png = "PNG", jpeg = "JPEG", webp = "WebP" }

    /// The format of the file at `path` from its first bytes, or nil.
    public static func format(of path: String) throws(ImageFileError) -> Format? {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ImageFileError(path: path, "cannot open the file") }
        let head = [UInt8]((try? handle.read(upToCount: 12)) ?? Data())
        try? handle.close()
        if head.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return .png }
        if head.starts(with: [0xFF, 0xD8]) { return .jpeg }
        if head.count == 12 && head[0..<4] == [0x52, 0x49, 0x46, 0x46] && head[8..<12] == [0x57, 0x45, 0x42, 0x50] { return .webp }
        return nil
    }

    /// Reads a PNG, JPEG or WebP file (by its signature, not its name).
    public static func read(_ path: String) throws(ImageFileError) -> RGBImage {
        switch try format(of: path) {
        case .png: return try readPNG(path)
        case .jpeg: return try readJPEG(path)
        case .webp: return try readWebP(path)
        case nil: throw ImageFileError(path: path, "not a PNG, JPEG or WebP file (by its first bytes)")
        }
    }

    public static func readWebP(_ path: String) throws(ImageFileError) -> RGBImage {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ImageFileError(path: path, "cannot read the file: \(error.localizedDescription)")
        }
        var w: Int32 = 0, h: Int32 = 0
        let known = data.withUnsafeBytes { WebPGetInfo($0.baseAddress?.assumingMemoryBound(to: UInt8.self), $0.count, &w, &h) }
        guard known != 0 else { throw ImageFileError(path: path, "not a readable WebP (its header does not parse)") }
        guard w > 0, h > 0, w <= 16384, h <= 16384 else { throw ImageFileError(path: path, "WebP of \(w)x\(h) pixels is outside 1...16384 per side") }
        let n = Int(w) * Int(h)
        var rgba = [UInt8](repeating: 0, count: n * 4)
        let decoded = data.withUnsafeBytes { src in
            rgba.withUnsafeMutableBufferPointer { dst in
                WebPDecodeRGBAInto(src.baseAddress?.assumingMemoryBound(to: UInt8.self), src.count, dst.baseAddress, dst.count, w * 4) != nil
            }
        }
        guard decoded else { throw ImageFileError(path: path, "WebP decoding failed (truncated or corrupted data?)") }
        var rgb = [UInt8](repeating: 0, count: n * 3)
        for i in 0..<n { rgb[3 * i] = rgba[4 * i]; rgb[3 * i + 1] = rgba[4 * i + 1]; rgb[3 * i + 2] = rgba[4 * i + 2] }
        return RGBImage(width: Int(w), height: Int(h), pixels: rgb)
    }

    public static func readPNG(_ path: String) throws(ImageFileError) -> RGBImage {
        var image = png_image()
        image.version = cpng_image_version()
        guard png_image_begin_read_from_file(&image, path) != 0 else {
            throw ImageFileError(path: path, "not a readable PNG: \(message(&image))")
        }
        // RGBA, then the alpha dropped (see the type's note): libpng would otherwise composite onto black.
        image.format = cpng_format_rgba()
        let w = Int(image.width), h = Int(image.height)
        guard w > 0, h > 0, w <= 16384, h <= 16384 else {
            png_image_free(&image)
            throw ImageFileError(path: path, "PNG of \(w)x\(h) pixels is outside 1...16384 per side")
        }
        var rgba = [UInt8](repeating: 0, count: w * h * 4)
        let ok = rgba.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        guard ok != 0 else { throw ImageFileError(path: path, "PNG decoding failed: \(message(&image))") }
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        for i in 0..<(w * h) { pixels[3 * i] = rgba[4 * i]; pixels[3 * i + 1] = rgba[4 * i + 1]; pixels[3 * i + 2] = rgba[4 * i + 2] }
        return RGBImage(width: w, height: h, pixels: pixels)
    }

    public static func readJPEG(_ path: String) throws(ImageFileError) -> RGBImage {
        var pixels: UnsafeMutablePointer<UInt8>? = nil
        var w: Int32 = 0, h: Int32 = 0
        var error = [CChar](repeating: 0, count: 256)
        let rc = cjpeg_decode_file(path, &pixels, &w, &h, &error, error.count)
        guard rc == 0, let pixels else {
            let text = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ImageFileError(path: path, "not a readable JPEG: \(text)")
        }
        defer { free(pixels) }
        return RGBImage(width: Int(w), height: Int(h), pixels: Array(UnsafeBufferPointer(start: pixels, count: Int(w) * Int(h) * 3)))
    }

    /// Writes a JPEG at `quality` (1...100).
    public static func writeJPEG(_ img: RGBImage, to path: String, quality: Int = 90) throws(ImageFileError) {
        var error = [CChar](repeating: 0, count: 256)
        let rc = img.pixels.withUnsafeBufferPointer {
            cjpeg_encode_file(path, $0.baseAddress, Int32(img.width), Int32(img.height), Int32(quality), &error, error.count)
        }
        guard rc == 0 else {
            let text = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ImageFileError(path: path, "JPEG encoding failed: \(text)")
        }
    }

    /// Writes a PNG atomically (temporary name, then rename).
    public static func writePNG(_ img: RGBImage, to path: String) throws(ImageFileError) {
        var image = png_image()
        image.version = cpng_image_version()
        image.width = UInt32(img.width)
        image.height = UInt32(img.height)
        image.format = cpng_format_rgb()
        let dir = (path as NSString).deletingLastPathComponent
        let temporary = (dir.isEmpty ? "." : dir) + "/.\((path as NSString).lastPathComponent).tmp-\(getpid())"
        let ok = img.pixels.withUnsafeBytes { png_image_write_to_file(&image, temporary, 0, $0.baseAddress, 0, nil) }
        guard ok != 0 else {
            unlink(temporary)
            throw ImageFileError(path: path, "PNG encoding failed: \(message(&image))")
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw ImageFileError(path: path, "cannot rename the written PNG into place: \(String(cString: strerror(errno)))")
        }
    }

    private static func message(_ image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
