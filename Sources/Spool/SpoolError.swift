/// A spool failure with a stable code, a message for the operator and what to do next.
public struct SpoolError: Error, CustomStringConvertible, Sendable {
    /// Stable reason codes (also used in reason.json; listed in docs/operations.md).
    public enum Code: String, Sendable, Codable {
        /// Another instance holds the lock.
        case locked
        /// A file-system call failed (permissions, missing folder, I/O).
        case io
        /// No space left on the device.
        case noSpace = "no_space"
        /// The drop contains a symlink, FIFO, device, socket or hard link.
        case unsafeInput = "unsafe_input"
        /// The drop has too many entries or is nested too deeply.
        case tooLarge = "too_large"
        /// The drop holds no file that could be processed.
        case empty
        /// A file of the drop cannot be read by the daemon's user (permissions).
        case unreadable
        /// The job record under work/ is missing or unreadable.
        case lostRecord = "lost_record"
        /// A folder drop kept a `*.part`/`*.tmp` file unchanged for `inbox.stale_partial_after_s`.
        case incompleteTransfer = "incomplete_transfer"
        /// A DICOM series already processed by an earlier job got instances that job did not have.
        case lateInstances = "late_instances"
        /// A zip entry's name is absolute, climbs out with `..`, or collides with another entry.
        case zipUnsafePath = "zip_unsafe_path"
        /// A zip entry is a symbolic link or a special file.
        case zipSymlink = "zip_symlink"
        /// A zip entry is encrypted.
        case zipEncrypted = "zip_encrypted"
        /// A compression method other than stored/deflate, ZIP64 or a multi-volume archive.
        case zipUnsupported = "zip_unsupported"
        /// Over `zip.max_uncompressed_mb`, `zip.max_entries` or `zip.max_ratio` (a zip bomb).
        case zipTooLarge = "zip_too_large"
        /// A truncated or damaged archive (no end record, bad offsets, bad data, CRC mismatch).
        case zipCorrupt = "zip_corrupt"
        /// A zip inside the zip (refused, not unpacked).
        case zipNested = "zip_nested"
    }

    public var code: Code
    public var message: String
    public var remedy: String

    public init(_ code: Code, _ message: String, remedy: String) {
        self.code = code
        self.message = message
        self.remedy = remedy
    }

    public var description: String { "\(message) [\(code.rawValue)] \(remedy)" }
}
