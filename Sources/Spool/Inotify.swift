#if canImport(Glibc)
import Glibc
#endif

/// Wake-ups from inotify for the inbox folders: any entry created, moved in or out, written,
/// closed or deleted. Events carry no trust (a close-write does not mean complete, and network
/// file systems send none): they only make the next settling check come sooner. Non-blocking,
/// close-on-exec; the descriptor is closed on deinit.
public final class InboxWatcher {
    let fd: Int32
    var watched: [Int32: String] = [:]

    public init() throws(SystemCallError) {
        fd = try sys("inotify_init1", "") { inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC)) }
    }

    deinit { close(fd) }

    /// Watches `folder` (not recursively; a drop's own sub-folders are rescanned while settling).
    public func watch(_ folder: String) throws(SystemCallError) {
        let mask = UInt32(IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE | IN_MODIFY | IN_DELETE | IN_ATTRIB | IN_ONLYDIR | IN_DONT_FOLLOW)
        let wd = try sys("inotify_add_watch", folder) { inotify_add_watch(fd, folder, mask) }
        watched[wd] = folder
    }

    /// Reads every queued event; true when anything happened since the last call.
    public func drain() -> Bool {
        var any = false
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 { any = true; continue }
            if n < 0 && errno == EINTR { continue }
            return any
        }
    }
}
