#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ImagingCore

/// The one place NIfTIIO calls POSIX: retries `EINTR`, and turns a failure into a thrown value
/// naming the call and `errno`. Call sites never read `errno`.
struct SystemCallError: Error {
    var call: String
    var errno: Int32
    var message: String { "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))" }
}

@discardableResult
func syscallRetrying<T: BinaryInteger>(_ call: String, _ body: () -> T) throws(SystemCallError) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let err = errno
        if err == EINTR { continue }
        throw SystemCallError(call: call, errno: err)
    }
}

/// An open file descriptor, closed on deinit (read side only; writing uses `DurableFile`).
/// Opened with O_NONBLOCK so a FIFO named `*.nii` cannot hang the reader; `size` then refuses it.
final class ReadableFile {
    let fd: Int32

    init(path: String) throws {
        do {
            fd = try syscallRetrying("open") { open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
        } catch {
            if error.errno == ENOENT || error.errno == ENOTDIR {
                throw ImagingError(.notFound, input: path, reason: "the file does not exist.", remedy: "Check the path.")
            }
            throw ImagingError(.unreadable, input: path, reason: error.message, remedy: "Check the file's permissions.")
        }
    }

    deinit { close(fd) }

    /// Size in bytes (throws `unreadable` for directories and other non-regular files).
    func size(input: String) throws -> Int {
        var st = stat()
        do { try syscallRetrying("fstat") { fstat(fd, &st) } } catch {
            throw ImagingError(.unreadable, input: input, reason: error.message, remedy: "Check the file.")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw ImagingError(.unreadable, input: input, reason: "not a regular file.", remedy: "Pass the path of a .nii or .nii.gz file.")
        }
        return Int(st.st_size)
    }

    /// Reads up to `count` bytes at `offset`; fewer only at end of file.
    func read(offset: Int, count: Int, input: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        try out.withUnsafeMutableBytes { buf in
            while done < count {
                let n: Int
                do throws(SystemCallError) {
                    n = try syscallRetrying("pread") { pread(fd, buf.baseAddress! + done, count - done, off_t(offset + done)) }
                } catch {
                    throw ImagingError(.unreadable, input: input, reason: error.message, remedy: "Check the disk and the file.")
                }
                if n == 0 { break }
                done += n
            }
        }
        out.removeLast(count - done)
        return out
    }

    /// Sequential read into raw memory; returns 0 at end of file.
    func readSome(into ptr: UnsafeMutableRawPointer, count: Int, input: String) throws -> Int {
        do { return try syscallRetrying("read") { Glibc.read(fd, ptr, count) } } catch {
            throw ImagingError(.unreadable, input: input, reason: error.message, remedy: "Check the disk and the file.")
        }
    }
}
