#if canImport(Glibc)
import Glibc
#endif
import ImagingCore

/// One input file of a claimed drop, checked and hashed.
public struct InputFile: Sendable, Equatable, Codable {
    /// Path relative to the job's `drop/` folder.
    public var path: String
    public var bytes: Int64
    public var sha256: String
    /// mtime in nanoseconds when hashed (a later change means the input was modified after the claim).
    public var mtime: Int64
}

/// The worker's bounded pre-check of a claimed drop: walks it without following symlinks,
/// opens each file with O_NOFOLLOW | O_NONBLOCK, checks with fstat that it is a regular file
/// with one link (no FIFO, device, socket, symlink or hard link to a file elsewhere), and hashes it.
/// Temporary names (dotfiles, `*.part`, `*.tmp`) are skipped without being opened.
public enum InputFiles {
    public static func collect(drop: String, maxFiles: Int = DropInspector.maxEntries) throws -> [InputFile] {
        var out: [InputFile] = []
        func visit(_ path: String, relative: String, depth: Int) throws {
            guard depth <= DropInspector.maxDepth else {
                throw SpoolError(.tooLarge, "the drop is nested more than \(DropInspector.maxDepth) folders deep", remedy: "Drop the series folder itself.")
            }
            guard let st = try lstatOrNil(path) else {
                throw SpoolError(.io, "a file vanished from the claimed drop", remedy: "Make sure nothing else moves files in segvol's work folder.")
            }
            if st.isDirectory {
                for name in try listDirectory(path) where !isTemporaryName(name) {
                    try visit(path + "/" + name, relative: relative.isEmpty ? name : relative + "/" + name, depth: depth + 1)
                }
                return
            }
            // No file names in reasons (they may identify patients, invariant I6).
            let label = DropInspector.where_(relative, depth)
            let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
            guard fd >= 0 else {
                let err = errno
                if err == ELOOP { throw SpoolError(.unsafeInput, "\(label) is a symbolic link", remedy: "Copy the file itself into the inbox.") }
                if err == EACCES || err == EPERM {
                    throw SpoolError(.unreadable, "\(label) is not readable by the daemon's user",
                                     remedy: "Make dropped files group-readable (umask 027 or 022; the inbox's setgid group is segvol), then drop it again.")
                }
                throw SpoolError(.io, "cannot open \(label): \(String(cString: strerror(err)))", remedy: "Check the file's permissions.")
            }
            defer { close(fd) }
            var fst = stat()
            try sys("fstat", path) { fstat(fd, &fst) }
            guard fst.isRegular else {
                throw SpoolError(.unsafeInput, "\(label) is a \(fst.kindName); only regular files are accepted", remedy: "Remove it from the drop.")
            }
            guard fst.st_nlink == 1 else {
                throw SpoolError(.unsafeInput, "\(label) is a hard link (\(fst.st_nlink) names)", remedy: "Copy the file instead of linking it.")
            }
            guard out.count < maxFiles else {
                throw SpoolError(.tooLarge, "the drop holds more than \(maxFiles) files", remedy: "Split it into one drop per series.")
            }
            out.append(InputFile(path: relative.isEmpty ? String(path.split(separator: "/").last ?? "") : relative,
                                 bytes: Int64(fst.st_size), sha256: try SHA256.hash(fd: fd, path: path), mtime: fst.mtimeNanoseconds))
        }
        try visit(drop, relative: "", depth: 0)
        guard !out.isEmpty else { throw SpoolError(.empty, "the drop holds no file to process", remedy: "Drop DICOM files or a NIfTI file.") }
        return out
    }

    /// True when every file still has the size and mtime it had when hashed.
    public static func unchanged(_ files: [InputFile], drop: String, isFolder: Bool) -> Bool {
        files.allSatisfy { file in
            let path = isFolder ? drop + "/" + file.path : drop
            guard let st = try? lstatOrNil(path) else { return false }
            return Int64(st.st_size) == file.bytes && st.mtimeNanoseconds == file.mtime
        }
    }
}
