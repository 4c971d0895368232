internal import CSystemd
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// What segvol's two handlers share: metadata by subscript, records from either swift-log entry
/// point, merged with the handler's and the provider's metadata, handed to `emit`.
protocol SegvolLogHandler: LogHandler {
    func emit(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata, file: String, function: String, line: UInt)
}

extension SegvolLogHandler {
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// swift-log ≥ 1.16 delivers records here.
    public func log(event: LogEvent) {
        emit(level: event.level, message: event.message, metadata: mergedMetadata(metadata, metadataProvider, event.metadata),
             file: event.file, function: event.function, line: event.line)
    }

    /// Earlier swift-log versions deliver records here.
    public func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?,
                    source: String, file: String, function: String, line: UInt) {
        emit(level: level, message: message, metadata: mergedMetadata(metadata, metadataProvider, explicit),
             file: file, function: function, line: line)
    }
}

/// A swift-log handler that writes each record to journald with sd_journal_sendv(3).
///
/// Fields: MESSAGE (the constant message), PRIORITY (from the level), SYSLOG_IDENTIFIER,
/// CODE_FILE/CODE_LINE/CODE_FUNC, and one field per metadata key: `job` → SEGVOL_JOB,
/// `region` → SEGVOL_REGION, `stage` → SEGVOL_STAGE, `model` → SEGVOL_MODEL, any other key
/// upper-cased with non-alphanumerics as `_` under the SEGVOL_ prefix. The metadata key
/// `event` (a `SegvolEvent` raw value) also sets MESSAGE_ID.
public struct JournalLogHandler: SegvolLogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    let label: String

    public init(label: String, level: Logger.Level = .info) {
        self.label = label
        self.logLevel = level
    }

    func emit(level: Logger.Level, message: Logger.Message, metadata all: Logger.Metadata, file: String, function: String, line: UInt) {
        var fields = [
            "MESSAGE=\(message)",
            "PRIORITY=\(Self.priority(level))",
            "SYSLOG_IDENTIFIER=\(label)",
            "CODE_FILE=\(file)",
            "CODE_LINE=\(line)",
            "CODE_FUNC=\(function)",
        ]
        for (key, value) in all.sorted(by: { $0.key < $1.key }) {
            fields.append("\(Self.fieldName(key))=\(value)")
            if key == "event", case .string(let name) = value, let event = SegvolEvent(rawValue: name) {
                fields.append("MESSAGE_ID=\(event.messageID)")
            }
        }
        Self.send(fields)
    }

    /// syslog priority of a swift-log level.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// The journald field for a metadata key: SEGVOL_ + upper-cased key, other characters as `_`.
    public static func fieldName(_ key: String) -> String {
        let body = key.uppercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) ? $0 : "_" }
        return String(("SEGVOL_" + String(body)).prefix(64))
    }

    /// One sd_journal_sendv call; each field is one iovec (values may hold newlines). All fields
    /// live in one buffer so the pointers stay valid for the whole call.
    static func send(_ fields: [String]) {
        var storage: [UInt8] = []
        var ranges: [Range<Int>] = []
        for field in fields {
            let start = storage.count
            storage.append(contentsOf: field.utf8)
            ranges.append(start..<storage.count)
        }
        storage.withUnsafeMutableBytes { raw in
            let vectors = ranges.map { iovec(iov_base: raw.baseAddress! + $0.lowerBound, iov_len: $0.count) }
            _ = sd_journal_sendv(vectors, Int32(vectors.count))
        }
    }
}

/// Plain-text handler for a terminal or a file: `segvol: LEVEL: message key=value …` on stderr.
public struct StderrLogHandler: SegvolLogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    let label: String

    public init(label: String, level: Logger.Level = .info) {
        self.label = label
        self.logLevel = level
    }

    func emit(level: Logger.Level, message: Logger.Message, metadata all: Logger.Metadata, file: String, function: String, line: UInt) {
        let pairs = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let text = "\(label): \(level): \(message)\(pairs.isEmpty ? "" : " " + pairs)\n"
        // One write(2) per line so lines from the daemon and its workers do not interleave.
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }
}

/// Chooses the handler: journald when `target` is "journal", or "auto" and stderr is connected
/// to the journal (JOURNAL_STREAM names stderr's device and inode, as systemd sets it).
public enum SystemdLogging {
    public static func handler(label: String, target: String, level: Logger.Level) -> any LogHandler {
        let journal = target == "journal" || (target == "auto" && stderrIsJournal())
        return journal ? JournalLogHandler(label: label, level: level) : StderrLogHandler(label: label, level: level)
    }

    /// True when JOURNAL_STREAM="dev:ino" matches stderr (systemd.exec(5)).
    public static func stderrIsJournal() -> Bool {
        guard let raw = getenv("JOURNAL_STREAM") else { return false }
        let parts = String(cString: raw).split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }
}

/// The handler's metadata, then the provider's, then the call's: later sources win (swift-log's order).
func mergedMetadata(_ handler: Logger.Metadata, _ provider: Logger.MetadataProvider?,
                    _ explicit: Logger.Metadata?) -> Logger.Metadata {
    var all = handler
    if let provided = provider?.get() { all.merge(provided) { $1 } }
    if let explicit { all.merge(explicit) { $1 } }
    return all
}
