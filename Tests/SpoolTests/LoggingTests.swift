import Configuration
import Foundation
import Logging
import Testing
import TestSupport
@testable import Spool

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
