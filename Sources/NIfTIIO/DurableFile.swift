#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ImagingCore

/// Durable replacement of a file: write a temporary file in the same directory, fsync it,
/// check `close()` (a full disk may only show there), rename over the target, fsync the
/// directory. Any failure (ENOSPC, EIO, EACCES...) removes the temporary file and throws
/// `write_failed` naming the call that failed.
public enum DurableFile {
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let temp = (dir == "/" ? "" : dir) + "/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        func fail(_ error: SystemCallError) -> ImagingError {
            ImagingError(.writeFailed, input: path, reason: error.message,
                         remedy: error.errno == ENOSPC || error.errno == EDQUOT ? "Free disk space, then retry." : "Check the output directory's permissions and disk.")
        }
        do throws(SystemCallError) {
            let fd = try syscallRetrying("open") { open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644) }
            var closed = false
            do throws(SystemCallError) {
                let written: Result<Void, SystemCallError> = bytes.withUnsafeBytes { buf in
                    var done = 0
                    while done < buf.count {
                        do throws(SystemCallError) {
                            done += try syscallRetrying("write") { Glibc.write(fd, buf.baseAddress! + done, buf.count - done) }
                        } catch { return .failure(error) }
                    }
                    return .success(())
                }
                try written.get()
                try syscallRetrying("fsync") { fsync(fd) }
                closed = true
                // close is not retried on EINTR: on Linux the descriptor is gone either way.
                if close(fd) != 0 { throw SystemCallError(call: "close", errno: errno) }
                try syscallRetrying("rename") { rename(temp, path) }
            } catch {
                if !closed { close(fd) }
                unlink(temp)
                throw error
            }
            let dfd = try syscallRetrying("open(directory)") { open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
            defer { close(dfd) }
            try syscallRetrying("fsync(directory)") { fsync(dfd) }
        } catch {
            throw fail(error)
        }
    }
}
