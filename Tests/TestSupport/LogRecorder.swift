import Foundation
import Logging

/// Collects log records in memory (STYLE: tests capture logs), for any test target.
public final class LogRecorder: @unchecked Sendable {
    public struct Record { public var level: Logger.Level; public var message: String; public var metadata: Logger.Metadata }
    private let lock = NSLock()
    private var stored: [Record] = []
    public init() {}
    public var records: [Record] { lock.withLock { stored } }
    public func append(_ r: Record) { lock.withLock { stored.append(r) } }

    public var logger: Logger {
        Logger(label: "test") { _ in Handler(recorder: self) }
    }

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        /// swift-log ≥ 1.16 delivers records here; the fields are those of `log(level:…)`.
        func log(event: LogEvent) {
            log(level: event.level, message: event.message, metadata: event.metadata, source: event.source,
                file: event.file, function: event.function, line: event.line)
        }

        func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
            recorder.append(Record(level: level, message: "\(message)", metadata: metadata.merging(explicit ?? [:]) { $1 }))
        }
    }
}
