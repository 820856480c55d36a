import Foundation
internal import CJPEG
internal import CPNG

/// An image file that cannot be read or written, naming the file.
public struct ImageFileError: Error, CustomStringConvertible, Sendable, Equatable {
    public let path: String
    public let message: String
    public init(path: String, _ message: String) { self.path = path; self.message = message }
    public var description: String { "\(path): \(message)" }
}

/// PNG (libpng) and JPEG (libjpeg-turbo) files as `RGBImage`s.
public enum ImageFiles {
    /// Reads a PNG or JPEG file (by its signature, not its name).
    public static func read(_ path: String) throws(ImageFileError) -> RGBImage {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ImageFileError(path: path, "cannot open the file") }
        let head = (try? handle.read(upToCount: 8)) ?? Data()
        try? handle.close()
        if head.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return try readPNG(path) }
        if head.starts(with: [0xFF, 0xD8]) { return try readJPEG(path) }
        throw ImageFileError(path: path, "neither a PNG nor a JPEG file")
    }

    public static func readPNG(_ path: String) throws(ImageFileError) -> RGBImage {
        var image = png_image()
        image.version = cpng_image_version()
        guard png_image_begin_read_from_file(&image, path) != 0 else {
            throw ImageFileError(path: path, "not a readable PNG: \(message(&image))")
        }
        image.format = cpng_format_rgb()
        let w = Int(image.width), h = Int(image.height)
        guard w > 0, h > 0, w <= 16384, h <= 16384 else {
            png_image_free(&image)
            throw ImageFileError(path: path, "PNG of \(w)x\(h) pixels is outside 1...16384 per side")
        }
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        let ok = pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        guard ok != 0 else { throw ImageFileError(path: path, "PNG decoding failed: \(message(&image))") }
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
