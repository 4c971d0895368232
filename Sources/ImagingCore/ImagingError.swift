/// An error a bad or unreadable input causes: a stable reason code, the input it concerns,
/// what went wrong, and what the operator can do. The message never contains patient data.
public struct ImagingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A stable, machine-readable reason (snake_case), documented in docs/errors.md.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(_ raw: String) { rawValue = raw }
        public var description: String { rawValue }
    }

    public var code: Code
    /// The file or folder concerned (as given by the caller).
    public var input: String
    /// What is wrong, in a sentence.
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

    /// Reason and remedy as two sentences, for an operator's failure record (reason.json).
    public var operatorMessage: String { Self.sentences([reason, remedy]) }

    /// Joins phrases as sentences: each starts with a capital letter and ends with a full stop
    /// unless it already ends with one of `.!?`.
    public static func sentences(_ parts: [String]) -> String {
        parts.map { $0.trimmingSpacesAndNewlines }.filter { !$0.isEmpty }.map { part in
            let first = part.prefix(1).uppercased() + part.dropFirst()
            return ".!?".contains(first.last!) ? first : first + "."
        }.joined(separator: " ")
    }
}

extension String {
    fileprivate var trimmingSpacesAndNewlines: String {
        String(drop { $0 == " " || $0 == "\n" }.reversed().drop { $0 == " " || $0 == "\n" }.reversed())
    }
}

extension ImagingError.Code {
    // Shared by every reader.
    public static let notFound = Self("not_found")
    public static let unreadable = Self("unreadable")
    public static let truncated = Self("truncated")
    public static let tooLarge = Self("too_large")
    public static let unsupportedFormat = Self("unsupported_format")
    public static let badGeometry = Self("bad_geometry")
    public static let writeFailed = Self("write_failed")
}
