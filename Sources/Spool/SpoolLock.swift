import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The instance lock: an exclusive `flock` on `state/segvol.lock`, held for the daemon's life
/// (released by the kernel when the process dies, so a crash never leaves a stale lock). The
/// descriptor is close-on-exec, so workers never hold it.
public final class SpoolLock {
    let fd: Int32
    public let path: String

    /// Takes the lock or throws `SpoolError.locked` at once (never waits).
    public init(stateDirectory: String) throws {
        let path = stateDirectory + "/segvol.lock"
        self.path = path
        do {
            fd = try sys("open", path) { open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644) }
        } catch {
            throw SpoolError(.io, "cannot open the lock file: \(error)", remedy: "Check that the state folder exists and is writable by the daemon's user.")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            close(fd)
            if err == EWOULDBLOCK {
                throw SpoolError(.locked, "another segvol instance holds \(path)", remedy: "Stop the other instance (systemctl stop segvol) or point --config at another site.")
            }
            throw SpoolError(.io, "flock(\(path)) failed: errno \(err)", remedy: "Check the state folder's file system.")
        }
        // The holder's PID, for operators; the lock itself is the flock.
        let text = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    deinit { close(fd) }
}

extension SpoolLock {
    /// The PID of the instance holding the lock, or nil when no instance runs (for `segvol status`).
    public static func holder(stateDirectory: String) -> Int32? {
        let path = stateDirectory + "/segvol.lock"
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return nil
        }
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 31, 0) }
        let text = String(decoding: buffer.prefix(max(0, n)), as: UTF8.self)
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }
}
