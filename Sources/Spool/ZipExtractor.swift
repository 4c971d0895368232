import CDeflate
#if canImport(Glibc)
import Glibc
#endif

/// Unpacks a zip drop into the job's own folder, in the worker only (the daemon never opens a
/// drop). Every refusal happens before the first byte is written where the central directory
/// shows it (paths, links, encryption, methods, sizes, nesting by name); damaged data (bad
/// deflate stream, CRC mismatch, a nested zip found by content) stop it midway, and the caller
/// removes the partial folder. Nothing is ever written outside `destination`: names are checked
/// and normalised first, folders are created by us, files with `O_CREAT | O_EXCL | O_NOFOLLOW`.
public enum ZipExtractor {
    /// Unpacks the archive `zip` into the new folder `destination` (must not exist yet).
    /// Returns the files written. Throws `SpoolError` (a `zip_*` code: refused input) or
    /// `SystemCallError` (could not write, e.g. a full disk).
    @discardableResult
    public static func extract(zip: String, into destination: String, limits: ZipLimits) throws -> [ZipEntry] {
        let fd = open(zip, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { throw SpoolError(.io, "cannot open the zip drop: \(String(cString: strerror(errno)))", remedy: "Check its permissions.") }
        defer { close(fd) }
        var st = stat()
        try sys("fstat", zip) { fstat(fd, &st) }
        guard st.isRegular else { throw SpoolError(.unsafeInput, "the zip drop is a \(st.kindName), not a regular file", remedy: "Drop the archive file itself.") }
        let entries = try ZipArchive.entries(fd: fd, size: Int64(st.st_size), limits: limits)
        if let index = entries.firstIndex(where: { ZipArchive.isZipName($0.path) }) {
            throw nested(index)
        }
        guard !entries.isEmpty else { throw SpoolError(.empty, "the zip drop holds no file", remedy: "Zip the series folder with its files.") }

        try sys("mkdir", destination) { mkdir(destination, 0o750) }
        guard let decompressor = libdeflate_alloc_decompressor() else { throw SpoolError(.io, "cannot allocate a decompressor", remedy: "Raise worker.memory_limit_mb.") }
        defer { libdeflate_free_decompressor(decompressor) }
        var folders: Set<String> = [""]
        for (index, entry) in entries.enumerated() {
            let label = "entry \(index + 1)"
            let header = try ZipArchive.read(fd, at: entry.localHeaderOffset, count: 30)
            guard header.u32(0) == ZipArchive.localSignature else { throw ZipArchive.corrupt("\(label) has no local header where the directory says") }
            let dataStart = entry.localHeaderOffset + 30 + Int64(header.u16(26)) + Int64(header.u16(28))
            guard dataStart + entry.compressedSize <= Int64(st.st_size) else { throw ZipArchive.corrupt("\(label)'s data run past the end of the archive") }
            let packed = try ZipArchive.read(fd, at: dataStart, count: Int(entry.compressedSize))
            var data: [UInt8]
            if entry.method == 0 {
                data = packed
            } else {
                data = [UInt8](repeating: 0, count: Int(entry.uncompressedSize))
                let result = packed.withUnsafeBytes { input in
                    data.withUnsafeMutableBytes { output in
                        libdeflate_deflate_decompress(decompressor, input.baseAddress, input.count, output.baseAddress, output.count, nil)
                    }
                }
                guard result == LIBDEFLATE_SUCCESS else {
                    let why = result == LIBDEFLATE_INSUFFICIENT_SPACE ? "inflates to more than its declared size (a zip bomb or a damaged archive)"
                        : result == LIBDEFLATE_SHORT_OUTPUT ? "inflates to less than its declared size" : "has damaged compressed data"
                    throw ZipArchive.corrupt("\(label) \(why)")
                }
            }
            let crc = data.withUnsafeBytes { UInt32(libdeflate_crc32(0, $0.baseAddress, $0.count)) }
            guard crc == entry.crc32 else { throw ZipArchive.corrupt("\(label) fails its CRC-32 check") }
            if data.count >= 4 && data[0] == 0x50 && data[1] == 0x4b && (data[2], data[3]) == (3, 4) { throw nested(index) }

            // Parent folders, created by us inside `destination` (names were normalised: no `..`).
            let parts = entry.path.split(separator: "/")
            var folder = ""
            for part in parts.dropLast() {
                folder = folder.isEmpty ? String(part) : folder + "/" + part
                if folders.insert(folder).inserted {
                    let path = destination + "/" + folder
                    try sys("mkdir", path) { mkdir(path, 0o750) }
                }
            }
            try write(data, to: destination + "/" + entry.path)
        }
        return entries
    }

    static func nested(_ index: Int) -> SpoolError {
        SpoolError(.zipNested, "entry \(index + 1) of the zip drop is itself a zip archive; nested archives are not unpacked",
                   remedy: "Unpack the inner archive and zip (or drop) its files directly.")
    }

    static func write(_ data: [UInt8], to path: String) throws(SystemCallError) {
        let fd = try sys("open", path) { open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o640) }
        var closed = false
        defer { if !closed { close(fd) } }
        var done = 0
        while done < data.count {
            let n = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, data.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SystemCallError(call: "write", path: path, errno: n < 0 ? errno : EIO) }
            done += n
        }
        closed = true
        try sys("close", path) { close(fd) }
    }
}
