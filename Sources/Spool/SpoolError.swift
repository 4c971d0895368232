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
