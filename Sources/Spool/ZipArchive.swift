#if canImport(Glibc)
import Glibc
#endif

/// Limits on what a zip drop may unpack to (config `[zip]`); every one is checked on the central
/// directory's declared sizes before a byte is written, and again while inflating.
public struct ZipLimits: Sendable, Equatable {
    /// Total uncompressed bytes of all entries.
    public var maxTotalBytes: Int64
    /// Entries in the central directory (folders included).
    public var maxEntries: Int
    /// Uncompressed ÷ compressed size of one entry (entries under 1 MiB uncompressed are exempt).
    public var maxRatio: Double

    public init(maxTotalBytes: Int64 = 8 << 30, maxEntries: Int = 100_000, maxRatio: Double = 200) {
        self.maxTotalBytes = maxTotalBytes
        self.maxEntries = maxEntries
        self.maxRatio = maxRatio
    }

    /// Entries smaller than this are never refused for their ratio (they cannot be a bomb).
    public static let ratioExemptBytes: Int64 = 1 << 20
}

/// One entry of a zip's central directory, validated: a safe relative path, stored or deflated,
/// not encrypted, a regular file or a folder.
public struct ZipEntry: Sendable, Equatable {
    /// Normalised relative path: `/`-separated, no `.`, `..`, empty or absolute components.
    public var path: String
    public var isDirectory: Bool
    /// 0 stored, 8 deflate.
    public var method: UInt16
    public var crc32: UInt32
    public var compressedSize: Int64
    public var uncompressedSize: Int64
    /// Offset of the entry's local header in the archive.
    public var localHeaderOffset: Int64
}

/// A bounded reader of the ZIP central directory (PKWARE APPNOTE 6.3: end of central directory
/// record, central file headers). Reads at most 64 KiB + the central directory, never follows a
/// declared offset outside the file, and refuses anything it does not fully understand.
/// ZIP64, multi-volume archives, encryption and methods other than stored/deflate are refused.
public enum ZipArchive {
    static let eocdSignature: UInt32 = 0x0605_4b50
    static let centralSignature: UInt32 = 0x0201_4b50
    static let localSignature: UInt32 = 0x0403_4b50

    /// True for names ending in `.zip` (any case): such a single-file drop is unpacked in the worker.
    public static func isZipName(_ name: String) -> Bool { name.lowercased().hasSuffix(".zip") }

    /// Reads and validates the central directory of the open archive `fd` (`size` bytes).
    public static func entries(fd: Int32, size: Int64, limits: ZipLimits) throws(SpoolError) -> [ZipEntry] {
        // End of central directory: 22 bytes plus a comment of up to 65,535 bytes, at the end.
        guard size >= 22 else { throw corrupt("it is \(size) bytes long, shorter than an empty zip (22 bytes); the copy was probably cut short") }
        let tailLength = Int(min(size, 22 + 65_535))
        let tail = try read(fd, at: size - Int64(tailLength), count: tailLength)
        var eocd = -1
        var i = tailLength - 22
        while i >= 0 {
            if tail.u32(i) == eocdSignature && i + 22 + Int(tail.u16(i + 20)) == tailLength { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else { throw corrupt("its end-of-archive record is missing (a truncated copy, or not a zip file)") }
        let disk = tail.u16(eocd + 4), cdDisk = tail.u16(eocd + 6)
        let diskEntries = Int(tail.u16(eocd + 8)), count = Int(tail.u16(eocd + 10))
        let cdSize = Int64(tail.u32(eocd + 12)), cdOffset = Int64(tail.u32(eocd + 16))
        if count == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
            throw SpoolError(.zipUnsupported, "the zip drop is a ZIP64 archive (over 65,535 entries or 4 GiB), which segvol does not unpack",
                             remedy: "Drop the series folder itself instead of a zip.")
        }
        guard disk == 0, cdDisk == 0, diskEntries == count else {
            throw SpoolError(.zipUnsupported, "the zip drop is one part of a multi-volume (split) archive", remedy: "Join the parts into one zip, or drop the folder itself.")
        }
        guard count <= limits.maxEntries else {
            throw SpoolError(.zipTooLarge, "the zip drop holds \(count) entries, more than zip.max_entries (\(limits.maxEntries))",
                             remedy: "Drop one series per zip, or raise zip.max_entries if the archive is trusted.")
        }
        let eocdOffset = size - Int64(tailLength) + Int64(eocd)
        guard cdOffset + cdSize <= eocdOffset, cdSize >= Int64(count) * 46 else {
            throw corrupt("its central directory lies outside the archive (a truncated or corrupt copy)")
        }
        let cd = try read(fd, at: cdOffset, count: Int(cdSize))
        var out: [ZipEntry] = []
        out.reserveCapacity(count)
        var seen: [String: Bool] = [:]  // path → isDirectory
        var total: Int64 = 0
        var p = 0
        for index in 0..<count {
            let label = "entry \(index + 1)"
            guard p + 46 <= cd.count, cd.u32(p) == centralSignature else { throw corrupt("its central directory is damaged at \(label)") }
            let madeBy = cd.u16(p + 4), flags = cd.u16(p + 8), method = cd.u16(p + 10)
            let crc = cd.u32(p + 16), csize = Int64(cd.u32(p + 20)), usize = Int64(cd.u32(p + 24))
            let nameLength = Int(cd.u16(p + 28)), extraLength = Int(cd.u16(p + 30)), commentLength = Int(cd.u16(p + 32))
            let external = cd.u32(p + 38), offset = Int64(cd.u32(p + 42))
            let end = p + 46 + nameLength + extraLength + commentLength
            guard end <= cd.count else { throw corrupt("its central directory is damaged at \(label)") }
            let rawName = Array(cd[(p + 46)..<(p + 46 + nameLength)])
            p = end
            if flags & 0x0001 != 0 || flags & 0x0040 != 0 || method == 99 {
                throw SpoolError(.zipEncrypted, "\(label) of the zip drop is encrypted; segvol never asks for passwords",
                                 remedy: "Unpack the archive yourself and drop the folder, or zip it again without a password.")
            }
            if csize == 0xFFFF_FFFF || usize == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
                throw SpoolError(.zipUnsupported, "\(label) of the zip drop uses ZIP64 sizes (a file over 4 GiB)", remedy: "Drop the folder itself instead of a zip.")
            }
            let unixMode = (madeBy >> 8) == 3 ? (external >> 16) & 0xF000 : 0
            let isDirectory = rawName.last == UInt8(ascii: "/") || rawName.last == UInt8(ascii: "\\") || unixMode == 0x4000
            if unixMode != 0 && unixMode != 0x8000 && unixMode != 0x4000 {
                let kind = unixMode == 0xA000 ? "a symbolic link" : "a special file (device, FIFO or socket)"
                throw SpoolError(.zipSymlink, "\(label) of the zip drop is \(kind); only regular files and folders are unpacked",
                                 remedy: "Zip the real files (zip without --symlinks), or drop the folder itself.")
            }
            let path = try safePath(rawName, label: label)
            if isDirectory {
                if path.isEmpty { continue }
            } else {
                guard method == 0 || method == 8 else {
                    throw SpoolError(.zipUnsupported, "\(label) of the zip drop is compressed with method \(method) (\(methodName(method))); segvol unpacks stored and deflated entries only",
                                     remedy: "Zip it again with plain deflate (the default of zip, 7-Zip's \"Deflate\", Windows' \"Send to compressed folder\").")
                }
                guard !path.isEmpty else { throw unsafe("\(label) of the zip drop has an empty name") }
                if method == 0 && csize != usize { throw corrupt("\(label) is stored uncompressed but declares two different sizes") }
                if usize >= ZipLimits.ratioExemptBytes && Double(usize) > limits.maxRatio * Double(max(csize, 1)) {
                    throw SpoolError(.zipTooLarge, "\(label) of the zip drop would expand \(Int(Double(usize) / Double(max(csize, 1))))-fold, more than zip.max_ratio (\(Int(limits.maxRatio))): a zip bomb, or very unusual data",
                                     remedy: "Drop the folder itself, or raise zip.max_ratio if the archive is trusted.")
                }
                total += usize
                guard total <= limits.maxTotalBytes else {
                    throw SpoolError(.zipTooLarge, "the zip drop would unpack to more than zip.max_uncompressed_mb (\(limits.maxTotalBytes >> 20) MiB)",
                                     remedy: "Drop one series per zip, or raise zip.max_uncompressed_mb if the archive is trusted.")
                }
                guard offset + 30 + csize <= cdOffset else { throw corrupt("\(label)'s data lie outside the archive (a truncated or corrupt copy)") }
            }
            // Collisions: the same path twice, or a file where another entry needs a folder.
            var prefix = ""
            for component in path.split(separator: "/").dropLast() {
                prefix = prefix.isEmpty ? String(component) : prefix + "/" + component
                if seen[prefix] == false { throw unsafe("\(label) of the zip drop lies inside a path that another entry is a file") }
                seen[prefix] = true
            }
            if let other = seen[path], !(other && isDirectory) { throw unsafe("two entries of the zip drop have the same name (entry \(index + 1) would overwrite another)") }
            seen[path] = isDirectory
            if !isDirectory {
                out.append(ZipEntry(path: path, isDirectory: false, method: method, crc32: crc, compressedSize: csize,
                                    uncompressedSize: usize, localHeaderOffset: offset))
            }
        }
        return out
    }

    /// The entry name as a safe relative path, or a refusal for `..`, absolute names, drive
    /// letters and NUL bytes. `\` counts as a separator (some Windows tools write it).
    static func safePath(_ raw: [UInt8], label: String) throws(SpoolError) -> String {
        guard !raw.contains(0) else { throw unsafe("\(label) of the zip drop has a NUL byte in its name") }
        let text = String(String(decoding: raw, as: UTF8.self).map { $0 == "\\" ? "/" : $0 })
        if text.hasPrefix("/") { throw unsafe("\(label) of the zip drop has an absolute name (it would be written outside the job folder)") }
        let components = text.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        if components.contains("..") { throw unsafe("\(label) of the zip drop climbs out of the archive with '..' (path traversal)") }
        if let first = components.first, first.count == 2, first.hasSuffix(":") { throw unsafe("\(label) of the zip drop names a drive letter") }
        guard components.count <= DropInspector.maxDepth, components.allSatisfy({ $0.utf8.count <= 255 }) else {
            throw unsafe("\(label) of the zip drop is nested more than \(DropInspector.maxDepth) folders deep or has a name over 255 bytes")
        }
        return components.joined(separator: "/")
    }

    static func methodName(_ method: UInt16) -> String {
        switch method {
        case 1: "shrink"
        case 6: "implode"
        case 9: "deflate64"
        case 12: "bzip2"
        case 14: "LZMA"
        case 93: "zstd"
        case 95: "xz"
        case 98: "PPMd"
        default: "unknown"
        }
    }

    static func corrupt(_ why: String) -> SpoolError {
        SpoolError(.zipCorrupt, "the zip drop is damaged: \(why)", remedy: "Copy the archive again (check its size against the original), or drop the folder itself.")
    }

    static func unsafe(_ why: String) -> SpoolError {
        SpoolError(.zipUnsafePath, why, remedy: "Nothing was unpacked. Make the archive with relative names only (e.g. `cd parent && zip -r series.zip series/`).")
    }

    /// Reads exactly `count` bytes at `offset`, or throws `zip_corrupt` (the file ended early).
    static func read(_ fd: Int32, at offset: Int64, count: Int) throws(SpoolError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw SpoolError(.io, "cannot read the zip drop: \(String(cString: strerror(errno)))", remedy: "Check the disk.") }
            if n == 0 { throw corrupt("it ends before its declared data (a truncated copy)") }
            done += n
        }
        return buffer
    }
}

extension Array where Element == UInt8 {
    /// Little-endian fields of zip headers (callers check bounds first).
    func u16(_ i: Int) -> UInt16 { UInt16(self[i]) | UInt16(self[i + 1]) << 8 }
    func u32(_ i: Int) -> UInt32 { UInt32(u16(i)) | UInt32(u16(i + 2)) << 16 }
}
