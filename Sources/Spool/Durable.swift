#if canImport(Glibc)
import Glibc
#endif

/// Durable file-system steps: a file is visible under its final name only when its bytes and
/// its directory entry are on disk (write to a temporary name in the same folder, fsync, check
/// close, rename, fsync the folder).
///
/// Spool keeps its own copy rather than importing NIfTIIO's `DurableFile`: Spool must not link
/// libnifti, and its failures are `SystemCallError`s that the daemon classifies (ENOSPC means
/// "wait", not "bad input"). NIfTIIO's copy is unchanged.
public enum Durable {
    /// Writes `bytes` to `path` durably; the temporary name is `.<name>.tmp-<pid>-<random>`,
    /// which the start-up sweep removes if a crash leaves it behind.
    public static func write(_ bytes: [UInt8], to path: String) throws(SystemCallError) {
        let (dir, name) = split(path)
        let temp = "\(dir)/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = try sys("open", temp) { open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644) }
        var closed = false
        do throws(SystemCallError) {
            var done = 0
            while done < bytes.count {
                let n = bytes.withUnsafeBytes { buf in Glibc.write(fd, buf.baseAddress! + done, buf.count - done) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw SystemCallError(call: "write", path: temp, errno: errno)
                }
                done += n
            }
            try sys("fsync", temp) { fsync(fd) }
            closed = true
            // close is not retried: on Linux the descriptor is gone either way.
            if close(fd) != 0 { throw SystemCallError(call: "close", path: temp, errno: errno) }
            try sys("rename", path) { Glibc.rename(temp, path) }
        } catch {
            if !closed { close(fd) }
            unlink(temp)
            throw error
        }
        try syncDirectory(dir)
    }

    /// Renames `from` to `to` (same file system) and fsyncs both parent folders.
    public static func rename(_ from: String, _ to: String) throws(SystemCallError) {
        try sys("rename", from) { Glibc.rename(from, to) }
        let a = split(from).dir, b = split(to).dir
        try syncDirectory(b)
        if a != b { try syncDirectory(a) }
    }

    /// fsync of a folder, making the entries created or renamed in it durable.
    public static func syncDirectory(_ dir: String) throws(SystemCallError) {
        let fd = try sys("open", dir) { open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        try sys("fsync", dir) { fsync(fd) }
    }

    /// fsync of a regular file that is already complete (e.g. written by a library).
    public static func syncFile(_ path: String) throws(SystemCallError) {
        let fd = try sys("open", path) { open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
        defer { close(fd) }
        try sys("fsync", path) { fsync(fd) }
    }

    /// mkdir that accepts an existing folder (not a symlink to one).
    public static func makeDirectory(_ path: String, mode: mode_t = 0o750) throws(SystemCallError) {
        if mkdir(path, mode) == 0 { return }
        let err = errno
        if err == EEXIST, let st = try lstatOrNil(path), st.isDirectory { return }
        throw SystemCallError(call: "mkdir", path: path, errno: err)
    }

    /// Removes a file or a folder tree without following symlinks; a missing path is fine.
    public static func removeTree(_ path: String) throws(SystemCallError) {
        guard let st = try lstatOrNil(path) else { return }
        if st.isDirectory {
            for name in try listDirectory(path) { try removeTree(path + "/" + name) }
            try sys("rmdir", path) { rmdir(path) }
        } else {
            try sys("unlink", path) { unlink(path) }
        }
    }

    static func split(_ path: String) -> (dir: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = String(path[..<slash])
        return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
    }
}
