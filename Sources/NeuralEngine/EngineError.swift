/// An error the outside world causes in the engine (a bad checkpoint file, a full disk): a stable
/// reason code, the input it concerns, what went wrong, and what the operator can do.
/// Shape mismatches between layers are bugs and trap instead (preconditions).
public struct EngineError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A stable, machine-readable reason (snake_case).
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(_ raw: String) { rawValue = raw }
        public var description: String { rawValue }
    }

    public var code: Code
    /// The file concerned (as given by the caller), or a short name of the object.
    public var input: String
    /// What is wrong, in a sentence (or a list of differences, one per line).
    public var reason: String
    /// What the operator can do about it.
    public var remedy: String

    public init(_ code: Code, input: String, reason: String, remedy: String) {
        self.code = code
        self.input = input
        self.reason = reason
        self.remedy = remedy
    }

    public var description: String { "\(input): \(reason) [\(code)] — \(remedy)" }
}

extension EngineError.Code {
    /// The file cannot be opened or read.
    public static let unreadable = Self("checkpoint_unreadable")
    /// The file is not a well-formed safetensors file.
    public static let malformed = Self("checkpoint_malformed")
    /// The checkpoint's tensor names, shapes or dtypes differ from the model's.
    public static let mismatch = Self("checkpoint_mismatch")
    /// The checkpoint could not be written.
    public static let writeFailed = Self("checkpoint_write_failed")
}
