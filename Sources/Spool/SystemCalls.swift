#if canImport(Glibc)
import Glibc
#endif

/// A failed POSIX call: which call, on what, and errno. Produced only by `sys`, the one place
/// Spool reads `errno`.
public struct SystemCallError: Error, CustomStringConvertible, Sendable {
    public var call: String
    public var path: String
    public var errno: Int32
    public var description: String { "\(call)(\(path)) failed: \(String(cString: strerror(errno))) (errno \(errno))" }
    /// The failure without the path, for logs (paths may hold drop names, invariant I6).
    public var summary: String { "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))" }
    /// True for "no space" and "quota" errors (retried later; never a bad input).
    public var isNoSpace: Bool { errno == ENOSPC || errno == EDQUOT }
}

/// Runs a POSIX call, retrying EINTR; a negative result throws `SystemCallError`.
@discardableResult
func sys<T: BinaryInteger>(_ call: String, _ path: String, _ body: () -> T) throws(SystemCallError) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let err = errno
        if err == EINTR { continue }
        throw SystemCallError(call: call, path: path, errno: err)
    }
}

/// `lstat`, never following a final symlink; nil when the path does not exist.
func lstatOrNil(_ path: String) throws(SystemCallError) -> stat? {
    var st = stat()
    if lstat(path, &st) == 0 { return st }
    let err = errno
    if err == ENOENT || err == ENOTDIR { return nil }
    throw SystemCallError(call: "lstat", path: path, errno: err)
}

extension stat {
    var isDirectory: Bool { (st_mode & S_IFMT) == S_IFDIR }
    var isRegular: Bool { (st_mode & S_IFMT) == S_IFREG }
    var isSymlink: Bool { (st_mode & S_IFMT) == S_IFLNK }
    /// Modification time in nanoseconds since the epoch.
    var mtimeNanoseconds: Int64 { Int64(st_mtim.tv_sec) * 1_000_000_000 + Int64(st_mtim.tv_nsec) }
    /// What kind of non-regular entry this is, for refusal messages.
    var kindName: String {
        switch st_mode & S_IFMT {
        case S_IFLNK: "symbolic link"
        case S_IFIFO: "FIFO"
        case S_IFCHR: "character device"
        case S_IFBLK: "block device"
        case S_IFSOCK: "socket"
        case S_IFDIR: "folder"
        default: "regular file"
        }
    }
}

/// Entry names of a folder (without "." and ".."), in byte order; never follows a symlinked folder.
func listDirectory(_ path: String) throws(SystemCallError) -> [String] {
    let fd = try sys("open", path) { open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
    guard let dir = fdopendir(fd) else {
        let err = errno
        close(fd)
        throw SystemCallError(call: "fdopendir", path: path, errno: err)
    }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
}

/// True for names segvol never opens: dotfiles, `*.part`, `*.tmp`.
public func isTemporaryName(_ name: String) -> Bool {
    name.hasPrefix(".") || name.hasSuffix(".part") || name.hasSuffix(".tmp")
}
