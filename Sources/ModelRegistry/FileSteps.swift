import Foundation
import ImagingCore
import Spool
#if canImport(Glibc)
import Glibc
#endif

/// File-system steps of the registry, mapping `SystemCallError`s to `ImagingError`s: permission
/// and read-only failures become `registry_not_writable` (with the remedy the admin needs), the
/// rest `write_failed`.
enum FileSteps {
    static func run<T>(_ body: () throws(SystemCallError) -> T) throws(ImagingError) -> T {
        do { return try body() } catch { throw map(error) }
    }

    static func map(_ error: SystemCallError) -> ImagingError { fail(error.call, error.path, error.errno) }

    /// The error for a failed POSIX call.
    static func fail(_ call: String, _ path: String, _ err: Int32) -> ImagingError {
        let reason = "\(call) failed: \(String(cString: strerror(err))) (errno \(err))"
        if [EACCES, EPERM, EROFS].contains(err) {
            return ImagingError(.registryNotWritable, input: path, reason: reason,
                                remedy: "run as the daemon's user (sudo -u segvol segvol models …) or make the models folder writable by it")
        }
        return ImagingError(.writeFailed, input: path, reason: reason,
                            remedy: err == ENOSPC || err == EDQUOT ? "free disk space and run the command again" : "check the models folder and run the command again")
    }

    /// `lstat` of a path, nil when it does not exist.
    static func lstatOrNil(_ path: String) -> stat? {
        var st = stat()
        return lstat(path, &st) == 0 ? st : nil
    }

    static func isDirectory(_ path: String) -> Bool {
        guard let st = lstatOrNil(path) else { return false }
        return (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func isSymlink(_ path: String) -> Bool {
        guard let st = lstatOrNil(path) else { return false }
        return (st.st_mode & S_IFMT) == S_IFLNK
    }

    /// The target of a symlink as stored, nil when `path` is not a symlink.
    static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Entries of a folder (not `.`/`..`), sorted.
    static func list(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    /// Copies a regular file durably (temporary name, fsync, rename, fsync of the folder).
    static func copy(_ from: String, to: String) throws(ImagingError) {
        guard let data = FileManager.default.contents(atPath: from) else {
            throw ImagingError(.modelNotFound, input: from, reason: "the file cannot be read", remedy: "check the candidate model folder")
        }
        try run { () throws(SystemCallError) in try Durable.write(Array(data), to: to) }
    }

    static func write(_ bytes: [UInt8], to path: String) throws(ImagingError) {
        try run { () throws(SystemCallError) in try Durable.write(bytes, to: path) }
    }

    /// Files 0444, the folder 0555: a registered version is read-only for everyone (root still
    /// can write, so the weights hash in provenance.json is checked before each promotion).
    static func makeReadOnly(folder: String) throws(ImagingError) {
        for name in list(folder) where chmod(folder + "/" + name, 0o444) != 0 {
            throw fail("chmod", folder + "/" + name, errno)
        }
        if chmod(folder, 0o555) != 0 { throw fail("chmod", folder, errno) }
    }

    /// Removes a file, symlink or folder tree, making read-only folders writable first.
    static func remove(_ path: String) throws(ImagingError) {
        guard let st = lstatOrNil(path) else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            _ = chmod(path, 0o755)
            for name in list(path) { try remove(path + "/" + name) }
            if rmdir(path) != 0 { throw fail("rmdir", path, errno) }
        } else if unlink(path) != 0 {
            throw fail("unlink", path, errno)
        }
    }

    static func syncDirectory(_ path: String) throws(ImagingError) {
        try run { () throws(SystemCallError) in try Durable.syncDirectory(path) }
    }

    static func sha256(_ path: String) throws(ImagingError) -> String {
        do { return try SHA256.hash(path: path) } catch {
            throw ImagingError(.modelNotFound, input: path, reason: error.description, remedy: "check the model folder")
        }
    }
}
