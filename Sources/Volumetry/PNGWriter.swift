internal import CDeflate
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
    /// - Parameter fast: the QC montage's encoding: rows unfiltered (filter type 0) and one
    ///   zlib stream from libdeflate at level 1, written by `encodeFast`. Same pixels as the
    ///   compact encoding (libpng, adaptive filters, zlib's default level), a file about 10–20 %
    ///   larger, encoded 5–10× faster: for the QC montage, which people look at once; the
    ///   documentation pictures stay compact.
    public static func encode(_ picture: Picture, fast: Bool = false) throws(ImagingError) -> [UInt8] {
        if fast { return try encodeFast(picture) }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
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

    /// libdeflate level of `encodeFast`.
    static let fastLevel: Int32 = 1

    /// The fast encoding, written directly (PNG 1.2, ISO/IEC 15948): signature, IHDR (8-bit grey
    /// or RGB, no interlace), one IDAT holding the zlib stream of the rows, each preceded by
    /// filter type 0, and IEND; chunk CRCs by libdeflate's CRC-32. libpng reads it back to the
    /// same pixels (tested).
    static func encodeFast(_ picture: Picture) throws(ImagingError) -> [UInt8] {
        let rowBytes = picture.width * picture.channels, height = picture.height
        let failed = ImagingError(.pngFailed, input: "picture \(picture.width)x\(picture.height)",
                                  reason: "libdeflate could not compress it", remedy: "report this as a bug")
        guard picture.width > 0, height > 0, picture.width <= Int(Int32.max), height <= Int(Int32.max),
              let compressor = libdeflate_alloc_compressor(fastLevel) else { throw failed }
        defer { libdeflate_free_compressor(compressor) }
        // The filtered rows: a 0 (filter None) before each row.
        var raw = [UInt8](repeating: 0, count: (rowBytes + 1) * height)
        raw.withUnsafeMutableBufferPointer { dst in
            picture.pixels.withUnsafeBufferPointer { src in
                for y in 0..<height {
                    (dst.baseAddress! + y * (rowBytes + 1) + 1).update(from: src.baseAddress! + y * rowBytes, count: rowBytes)
                }
            }
        }
        let bound = libdeflate_zlib_compress_bound(compressor, raw.count)
        let head = 8 + 25 + 8  // signature, IHDR chunk, IDAT length and type
        var out = [UInt8](repeating: 0, count: head + bound + 4 + 12)
        let zlibBytes = out.withUnsafeMutableBufferPointer { o in
            raw.withUnsafeBytes { r in libdeflate_zlib_compress(compressor, r.baseAddress, r.count, o.baseAddress! + head, bound) }
        }
        guard zlibBytes > 0, zlibBytes <= Int(Int32.max) else { throw failed }
        func put32(_ v: UInt32, at n: Int) {
            out[n] = UInt8(v >> 24); out[n + 1] = UInt8(truncatingIfNeeded: v >> 16)
            out[n + 2] = UInt8(truncatingIfNeeded: v >> 8); out[n + 3] = UInt8(truncatingIfNeeded: v)
        }
        /// Writes a chunk's length and type at `at` (its data, `length` bytes, follows) and its CRC after the data.
        func chunk(_ type: String, at: Int, length: Int) {
            put32(UInt32(length), at: at)
            for (i, b) in type.utf8.enumerated() { out[at + 4 + i] = b }
            let crc = out.withUnsafeBytes { libdeflate_crc32(0, $0.baseAddress! + at + 4, 4 + length) }
            put32(crc, at: at + 8 + length)
        }
        for (i, b) in [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A].enumerated() { out[i] = UInt8(b) }
        put32(UInt32(picture.width), at: 16)
        put32(UInt32(height), at: 20)
        out[24] = 8                                   // bit depth
        out[25] = picture.channels == 3 ? 2 : 0       // colour type: RGB or grey
        out[26] = 0; out[27] = 0; out[28] = 0         // deflate, adaptive filtering, no interlace
        chunk("IHDR", at: 8, length: 13)
        // IDAT's CRC covers the type and the compressed data: written after the data, before IEND.
        chunk("IDAT", at: 33, length: zlibBytes)
        let end = head + zlibBytes + 4
        chunk("IEND", at: end, length: 0)
        out.removeLast(out.count - (end + 12))
        return out
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
