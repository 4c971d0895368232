import Configuration
import Foundation
import Logging
import Testing
@testable import Spool

/// Collects log records in memory (STYLE: tests capture logs).
final class LogRecorder: @unchecked Sendable {
    struct Record { var level: Logger.Level; var message: String; var metadata: Logger.Metadata }
    private let lock = NSLock()
    private var stored: [Record] = []
    var records: [Record] { lock.withLock { stored } }
    func append(_ r: Record) { lock.withLock { stored.append(r) } }

    var logger: Logger {
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

@Suite struct EngineLoggingTests {
    @Test func eventsCarryJobAndCodeButNeverTheDropName() throws {
        let site = TestSite(quietFile: 0.1, quietFolder: 0.1)
        let recorder = LogRecorder()
        let engine = try SpoolEngine(config: site.config, logger: recorder.logger, workerExecutable: "/bin/false")
        let inbox = site.inbox()
        try FileManager.default.createSymbolicLink(atPath: inbox + "/SMITH_JOHN.nii", withDestinationPath: "/etc/passwd")
        // Awkward but valid names are claimed like any other.
        writeFile(inbox + "/-leading dash\nnewline.nii", [1])
        // A name that is not UTF-8 cannot be handled safely: ignored, reported once.
        let bad: [CChar] = Array((inbox + "/bad").utf8CString.dropLast()) + [CChar(bitPattern: 0xff), 0]
        let fd = open(bad, O_CREAT | O_WRONLY, 0o644)
        #expect(fd >= 0)
        close(fd)
        runTicks(engine, seconds: 1.0)
        let records = recorder.records
        let ignored = records.filter { $0.metadata["event"] == "drop.ignored" }
        #expect(ignored.count == 2, "\(ignored.map(\.message))")
        #expect(ignored.contains { $0.metadata["code"] == "unsafe_input" && $0.metadata["job"] != nil && $0.metadata["stage"] == "intake" })
        #expect(site.claimedDrops().contains("-leading dash\nnewline.nii"))
        #expect(site.claimedDrops().contains("SMITH_JOHN.nii"))
        #expect(!site.claimedDrops().contains { $0.hasPrefix("bad") })
        #expect(try FileManager.default.contentsOfDirectory(atPath: inbox).count == 1)
        // I6: the operator's drop names appear in no message and no metadata value.
        for record in records {
            let text = record.message + " " + record.metadata.values.map { "\($0)" }.joined(separator: " ")
            #expect(!text.contains("SMITH") && !text.contains("leading dash"), "\(record.message) \(record.metadata)")
        }
        // Job-failure events (the fake worker fails) are logged with the documented event name.
        #expect(records.contains { $0.metadata["event"] == "job.failed" && $0.level == .error })
    }
}
