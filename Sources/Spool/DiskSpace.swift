#if canImport(Glibc)
import Glibc
#endif

/// Free space of the file system holding a folder (statvfs), for the intake watermark.
public struct DiskSpace: Sendable, Equatable {
    public var freeBytes: UInt64
    public var totalBytes: UInt64

    public var freePercent: Double { totalBytes == 0 ? 100 : Double(freeBytes) * 100 / Double(totalBytes) }

    /// Space available to unprivileged users (f_bavail) on the file system of `path`.
    public static func of(_ path: String) throws(SystemCallError) -> DiskSpace {
        var s = statvfs()
        try sys("statvfs", path) { statvfs(path, &s) }
        let unit = UInt64(s.f_frsize == 0 ? s.f_bsize : s.f_frsize)
        return DiskSpace(freeBytes: UInt64(s.f_bavail) * unit, totalBytes: UInt64(s.f_blocks) * unit)
    }

    /// True when free space is below either threshold: intake pauses.
    public func isBelow(minFreePercent: Double, minFreeMB: Int) -> Bool {
        freePercent < minFreePercent || freeBytes < UInt64(minFreeMB) * 1_048_576
    }
}
