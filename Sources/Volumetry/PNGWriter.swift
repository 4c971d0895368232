internal import CPNG
import ImagingCore
import NIfTIIO

extension ImagingError.Code {
    /// libpng refused to encode a picture.
    public static let pngFailed = Self("png_failed")
}

/// An 8-bit picture: grey (1 channel) or RGB (3 channels), rows top to bottom.
public struct Picture: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var channels: Int
    /// `pixels[(y * width + x) * channels + c]`.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(channels == 1 || channels == 3, "a picture is grey or RGB")
        precondition(pixels.count == width * height * channels, "pixel count does not match the size")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }
}

/// Encodes pictures as PNG through libpng's simplified API (`png_image_write_to_memory`),
/// which handles libpng's longjmp error path internally and reports failure as 0, so no
/// longjmp ever crosses Swift frames.
public enum PNGWriter {
    /// The PNG bytes of a picture.
    ///
    /// - Parameter fast: libpng's `PNG_IMAGE_FLAG_FAST`: no row filter and zlib level 3
    ///   instead of adaptive filters and the default level. Same pixels, a larger file written
    ///   several times faster: for the QC montage, which people look at once; the documentation
    ///   pictures stay compact.
    public static func encode(_ picture: Picture, fast: Bool = false) throws(ImagingError) -> [UInt8] {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        if fast { image.flags = UInt32(PNG_IMAGE_FLAG_FAST) }
        image.width = UInt32(picture.width)
        image.height = UInt32(picture.height)
        image.format = picture.channels == 3 ? 0x02 /* PNG_FORMAT_RGB */ : 0 /* PNG_FORMAT_GRAY */
        var size = 0
        let ok = picture.pixels.withUnsafeBytes { px -> Bool in
            guard png_image_write_to_memory(&image, nil, &size, 0, px.baseAddress, 0, nil) != 0 else { return false }
            return true
        }
        var out = [UInt8](repeating: 0, count: size)
        let written = ok && picture.pixels.withUnsafeBytes { px in
            out.withUnsafeMutableBytes { o in png_image_write_to_memory(&image, o.baseAddress, &size, 0, px.baseAddress, 0, nil) != 0 }
        }
        guard written else {
            let message = withUnsafeBytes(of: image.message) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            png_image_free(&image)
            throw ImagingError(.pngFailed, input: "picture \(picture.width)x\(picture.height)",
                               reason: "libpng could not encode it: \(message)", remedy: "report this as a bug")
        }
        return Array(out.prefix(size))
    }

    /// Writes a picture durably (temporary name, fsync, rename, directory fsync).
    public static func write(_ picture: Picture, to path: String, fast: Bool = false) throws {
        try DurableFile.write(try encode(picture, fast: fast), to: path)
    }

    /// Decodes PNG bytes into an 8-bit grey or RGB picture (libpng's simplified read API; for
    /// tests and checks: pictures written by `encode` read back exactly). Nil when libpng
    /// cannot read them.
    public static func decode(_ bytes: [UInt8], channels: Int = 3) -> Picture? {
        precondition(channels == 1 || channels == 3, "a picture is grey or RGB")
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        // libpng reads from `bytes` until png_image_finish_read: one scope keeps them pinned.
        return bytes.withUnsafeBytes { raw -> Picture? in
            guard png_image_begin_read_from_memory(&image, raw.baseAddress, raw.count) != 0 else { return nil }
            image.format = channels == 3 ? 0x02 /* PNG_FORMAT_RGB */ : 0 /* PNG_FORMAT_GRAY */
            let width = Int(image.width), height = Int(image.height)
            var pixels = [UInt8](repeating: 0, count: width * height * channels)
            let done = pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) != 0 }
            guard done else {
                png_image_free(&image)
                return nil
            }
            return Picture(width: width, height: height, channels: channels, pixels: pixels)
        }
    }
}

extension Picture {
    /// This picture and `other` next to each other (same height and channels), with a
    /// `gap`-pixel black seam.
    public func beside(_ other: Picture, gap: Int = 4) -> Picture {
        precondition(height == other.height && channels == other.channels, "pictures side by side need equal height and channels")
        let w = width + gap + other.width
        var out = [UInt8](repeating: 0, count: w * height * channels)
        for row in 0..<height {
            let a = row * width * channels, b = row * other.width * channels, o = row * w * channels
            out.replaceSubrange(o..<o + width * channels, with: pixels[a..<a + width * channels])
            let o2 = o + (width + gap) * channels
            out.replaceSubrange(o2..<o2 + other.width * channels, with: other.pixels[b..<b + other.width * channels])
        }
        return Picture(width: w, height: height, channels: channels, pixels: out)
    }
}
