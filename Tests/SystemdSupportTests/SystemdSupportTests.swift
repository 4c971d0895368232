import Foundation
import Logging
import Testing
@testable import SystemdSupport

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

@Suite struct LogHandlerTests {
    @Test func metadataKeysBecomeSegvolFields() {
        #expect(JournalLogHandler.fieldName("job") == "SEGVOL_JOB")
        #expect(JournalLogHandler.fieldName("region") == "SEGVOL_REGION")
        #expect(JournalLogHandler.fieldName("series.uid") == "SEGVOL_SERIES_UID")
        #expect(JournalLogHandler.fieldName("free-mb") == "SEGVOL_FREE_MB")
    }

    @Test func prioritiesFollowSyslog() {
        #expect([Logger.Level.trace, .debug, .info, .notice, .warning, .error, .critical].map(JournalLogHandler.priority) == [7, 7, 6, 5, 4, 3, 2])
    }

    @Test func messageIDsAreDistinct128BitHex() {
        let ids = SegvolEvent.allCases.map(\.messageID)
        #expect(Set(ids).count == SegvolEvent.allCases.count)
        #expect(ids.allSatisfy { $0.count == 32 && $0.allSatisfy { $0.isHexDigit && !$0.isUppercase } })
    }

    @Test func everyMessageIDIsDocumented() throws {
        let doc = try String(contentsOfFile: packageRoot + "/docs/operations.md", encoding: .utf8)
        for event in SegvolEvent.allCases {
            #expect(doc.contains(event.messageID) && doc.contains("`\(event.rawValue)`"), "\(event) missing from docs/operations.md")
        }
    }

    @Test func journalStreamIsNotAssumedWithoutTheVariable() {
        guard getenv("JOURNAL_STREAM") == nil else { return }
        #expect(!SystemdLogging.stderrIsJournal())
        #expect(SystemdLogging.handler(label: "t", target: "auto", level: .info) is StderrLogHandler)
        #expect(SystemdLogging.handler(label: "t", target: "journal", level: .info) is JournalLogHandler)
    }

    @Test func notifierIsSilentWithoutNotifySocket() {
        guard getenv("NOTIFY_SOCKET") == nil else { return }
        let notifier = SystemdNotifier()
        #expect(!notifier.isEnabled)
        #expect(!notifier.ready(status: "x"))
        #expect(notifier.watchdogCadence == nil)
    }
}

/// Static checks of the unit files: `systemd-analyze verify` exits 0 with nothing on stderr, and
/// `systemd-analyze security` rates segvol.service at exposure ≤ 2.0.
@Suite struct UnitFileTests {
    static let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs systemd-analyze; returns (status, stdout, stderr).
    func run(_ arguments: [String]) throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.analyze!)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: "/tmp")
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// The units with ExecStart's /usr/local/bin/segvol pointed at an existing binary (verify
    /// checks that it is executable; `make install` does the same substitution for PREFIX).
    func stagedUnits() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("segvol-units-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let built = packageRoot + "/.build/debug/segvol"
        let binary = FileManager.default.isExecutableFile(atPath: built) ? built : "/bin/true"
        for name in ["segvol.service", "segvol-train.service", "segvol-train.timer"] {
            let text = try String(contentsOfFile: packageRoot + "/systemd/" + name, encoding: .utf8)
            try text.replacingOccurrences(of: "/usr/local/bin/segvol", with: binary).write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        }
        return dir
    }

    @Test(.enabled(if: analyze != nil)) func unitsVerifyCleanly() throws {
        let dir = try stagedUnits()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (status, _, stderr) = try run(["verify", "--man=no", dir + "/segvol.service", dir + "/segvol-train.service", dir + "/segvol-train.timer"])
        #expect(status == 0)
        #expect(stderr.isEmpty, "systemd-analyze verify: \(stderr)")
    }

    @Test(.enabled(if: analyze != nil)) func serviceExposureIsAtMostTwo() throws {
        let dir = try stagedUnits()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for unit in ["segvol.service", "segvol-train.service"] {
            let (_, stdout, _) = try run(["security", "--offline=true", dir + "/" + unit])
            let line = try #require(stdout.split(separator: "\n").last { $0.contains("Overall exposure level") })
            let score = line.split(separator: " ").compactMap { Double($0) }.first
            #expect(score != nil && score! <= 2.0, "\(unit): \(line)")
        }
    }

    @Test func serviceHasTheRequiredSettings() throws {
        let text = try String(contentsOfFile: packageRoot + "/systemd/segvol.service", encoding: .utf8)
        for line in ["Type=notify", "Restart=on-failure", "ProtectSystem=strict", "ReadWritePaths=/var/lib/segvol",
                     "User=segvol", "ExecReload=/bin/kill -HUP $MAINPID", "NoNewPrivileges=yes", "MemoryDenyWriteExecute=yes"] {
            #expect(text.contains("\n" + line + "\n"), "missing \(line)")
        }
        #expect(text.contains("\nWatchdogSec="))
        let timer = try String(contentsOfFile: packageRoot + "/systemd/segvol-train.timer", encoding: .utf8)
        for line in ["Persistent=true", "OnCalendar=*-*-* 02:00:00", "RandomizedDelaySec=1h"] { #expect(timer.contains(line)) }
        let train = try String(contentsOfFile: packageRoot + "/systemd/segvol-train.service", encoding: .utf8)
        for line in ["Nice=19", "IOSchedulingClass=idle", "CPUWeight=idle"] { #expect(train.contains(line)) }
    }
}
