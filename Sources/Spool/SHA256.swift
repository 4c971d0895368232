#if canImport(Glibc)
import Glibc
#endif
import ImagingCore

/// Hashing files for the manifests (the digest itself lives in ImagingCore).
extension SHA256 {
    /// Hashes a file read through `fd` (already opened and checked by the caller).
    public static func hash(fd: Int32, path: String) throws(SystemCallError) -> String {
        var hasher = SHA256()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var offset: off_t = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemCallError(call: "pread", path: path, errno: errno)
            }
            if n == 0 { break }
            chunk.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            offset += off_t(n)
        }
        return hasher.finalizeHex()
    }

    /// Hashes the regular file at `path` (opened with O_NOFOLLOW).
    public static func hash(path: String) throws(SystemCallError) -> String {
        let fd = try sys("open", path) { open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK) }
        defer { close(fd) }
        return try hash(fd: fd, path: path)
    }
}
