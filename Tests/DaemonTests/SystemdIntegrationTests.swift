import Foundation
import Testing
@testable import Spool

let toolsDir = packageRoot + "/../shared/tools/systemd"
let python3: String? = ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// Records sd_notify datagrams with ../shared/tools/systemd/notify_listener.py.
final class NotifyListener {
    let socket: String
    let out: String
    let process = Process()

    init(directory: String, timeout: Int = 60) throws {
        socket = directory + "/notify.sock"
        out = directory + "/notify.jsonl"
        process.executableURL = URL(fileURLWithPath: python3!)
        process.arguments = [toolsDir + "/notify_listener.py", socket, out, "\(timeout)"]
        try process.run()
        _ = waitFor(10) { FileManager.default.fileExists(atPath: self.socket) }
    }

    deinit { if process.isRunning { process.terminate() } }

    /// Each datagram's fields, in arrival order, with arrival times.
    func datagrams() -> [(t: Double, fields: [String])] {
        guard let text = try? String(contentsOfFile: out, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let fields = obj["fields"] as? [String], let t = obj["t"] as? Double else { return nil }
            return (t, fields)
        }
    }
}

extension DaemonSuite {
@Suite struct SystemdIntegrationTests {
    @Test(.enabled(if: segvolBinary != nil), .timeLimit(.minutes(2)))
    func notifyReadyAfterRecoveryWatchdogReloadAndStopping() throws {
        guard python3 != nil, FileManager.default.fileExists(atPath: toolsDir + "/notify_listener.py") else {
            print("SystemdIntegrationTests: python3 or \(toolsDir)/notify_listener.py missing; sd_notify test skipped")
            return
        }
        let site = DaemonSite()
        // An unfinished job from a "crashed" instance and an orphan temporary output.
        let store = site.store
        try store.prepareFolders(inboxes: [site.inbox("thigh")])
        let id = JobRecord.newID()
        try FileManager.default.createDirectory(atPath: store.workDir(id) + "/drop", withIntermediateDirectories: true)
        let nifti = try site.dropNIfTI("seed.nii")
        try FileManager.default.removeItem(atPath: site.inbox("thigh") + "/seed.nii")
        FileManager.default.createFile(atPath: store.workDir(id) + "/drop/seed.nii", contents: nifti)
        try store.save(JobRecord(id: id, region: "thigh", dropName: "seed.nii", state: .running, attempts: 1, claimedAt: 1))
        try FileManager.default.createDirectory(atPath: store.outboxTemp(id), withIntermediateDirectories: true)

        let listener = try NotifyListener(directory: site.root)
        let serve = try site.serve(environment: ["NOTIFY_SOCKET": listener.socket, "WATCHDOG_USEC": "400000"])
        defer { if serve.isRunning { serve.terminate() } }
        #expect(waitFor(20) { listener.datagrams().contains { $0.fields.contains("READY=1") } })
        let early = listener.datagrams()
        let readyIndex = try #require(early.firstIndex { $0.fields.contains("READY=1") })
        #expect(early[0].fields == ["STATUS=Recovering unfinished jobs"], "the first datagram must come before READY")
        // READY reports the recovered job as queued: recovery ran before it.
        #expect(early[readyIndex].fields.contains { $0.hasPrefix("STATUS=queue 1,") }, "\(early[readyIndex].fields)")

        // WATCHDOG=1 at half of WATCHDOG_USEC (0.2 s): several pings in 1.5 s, no gap above 0.4 s.
        usleep(1_500_000)
        let pings = listener.datagrams().filter { $0.fields == ["WATCHDOG=1"] }.map(\.t)
        #expect(pings.count >= 5, "\(pings.count) pings")
        #expect(zip(pings, pings.dropFirst()).allSatisfy { $1 - $0 < 0.4 })
        #expect(waitFor(30) { site.store.jobIDs(in: site.paths.archive) == [id] }, "the recovered job is processed")

        // SIGHUP with a valid file: RELOADING=1 then READY=1.
        let before = listener.datagrams().count
        kill(serve.processIdentifier, SIGHUP)
        #expect(waitFor(10) { listener.datagrams().dropFirst(before).contains { $0.fields.contains("READY=1") } })
        let reload = listener.datagrams().dropFirst(before).filter { $0.fields != ["WATCHDOG=1"] }
        #expect(reload.first?.fields.first == "RELOADING=1")
        #expect(reload.first?.fields.contains { $0.hasPrefix("MONOTONIC_USEC=") } == true)

        // SIGHUP with an invalid file: refused, the daemon keeps running on the old configuration.
        site.sections["inbox"]?["quiet_file_s"] = "-3"
        site.writeConfig()
        kill(serve.processIdentifier, SIGHUP)
        usleep(500_000)
        #expect(serve.isRunning)
        try site.dropNIfTI("after-bad-reload.nii")
        #expect(waitFor(30) { site.store.jobIDs(in: site.paths.archive).count == 2 })

        // SIGTERM: STOPPING=1 and exit 0.
        kill(serve.processIdentifier, SIGTERM)
        #expect(waitExit(serve, 20) == 0)
        #expect(waitFor(5) { listener.datagrams().contains { $0.fields.contains("STOPPING=1") } })
        let log = try String(contentsOfFile: try FileManager.default.contentsOfDirectory(atPath: site.root)
            .filter { $0.hasPrefix("serve-") }.map { site.root + "/" + $0 }.first!, encoding: .utf8)
        #expect(log.contains("configuration reload refused") && log.contains("key=inbox.quiet_file_s"), "\(log)")
    }

    @Test(.enabled(if: segvolBinary != nil), .timeLimit(.minutes(2)))
    func journaldRecordsCarryJobFieldsPriorityAndMessageIDs() throws {
        guard getuid() == 0, FileManager.default.fileExists(atPath: toolsDir + "/with-journald.sh"),
              FileManager.default.isExecutableFile(atPath: "/lib/systemd/systemd-journald"),
              FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else {
            print("SystemdIntegrationTests: journald test skipped (needs root, unshare, systemd-journald and \(toolsDir)/with-journald.sh)")
            return
        }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        probe.arguments = ["--mount", "--propagation", "private", "true"]
        try probe.run()
        probe.waitUntilExit()
        guard probe.terminationStatus == 0 else {
            print("SystemdIntegrationTests: journald test skipped: unshare --mount is not permitted here")
            return
        }
        let site = DaemonSite(extra: ["log": ["target": "\"journal\"", "level": "\"info\""]])
        try site.dropNIfTI("good.nii")
        FileManager.default.createFile(atPath: site.inbox("thigh") + "/bad.nii", contents: Data(repeating: 7, count: 500))
        let out = site.root + "/journal"
        let run = Process()
        run.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        run.arguments = ["--mount", "--propagation", "private", toolsDir + "/with-journald.sh", out,
                         segvolBinary!, "serve", "--config", site.configPath, "--exit-when-idle"]
        try run.run()
        #expect(waitExit(run, 90) == 0)
        #expect((try? String(contentsOfFile: out + "/cmd.rc", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        let records = try String(contentsOfFile: out + "/journal.json", encoding: .utf8).split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let ours = records.filter { ($0["SYSLOG_IDENTIFIER"] as? String)?.hasPrefix("segvol") == true }
        #expect(!ours.isEmpty)
        let done = ours.filter { $0["MESSAGE_ID"] as? String == "99022379c75541f08a8c3f154cdd5f77" }
        let failed = ours.filter { $0["MESSAGE_ID"] as? String == "be680d1b4f374b049fff4e5632cbdddd" }
        #expect(done.count == 1 && failed.count == 1)
        #expect(done.first?["PRIORITY"] as? String == "6" && failed.first?["PRIORITY"] as? String == "3")
        #expect(done.first?["SEGVOL_REGION"] as? String == "thigh" && done.first?["SEGVOL_STAGE"] as? String == "done")
        #expect(failed.first?["SEGVOL_CODE"] != nil)
        // `journalctl SEGVOL_JOB=<job>` tells the job's story: daemon and worker records alike.
        let job = try #require(done.first?["SEGVOL_JOB"] as? String)
        let story = ours.filter { $0["SEGVOL_JOB"] as? String == job }
        #expect(Set(story.compactMap { $0["SYSLOG_IDENTIFIER"] as? String }) == ["segvol", "segvol-worker"])
        #expect(story.count >= 4)
        #expect(ours.allSatisfy { $0["PRIORITY"] != nil && $0["CODE_FILE"] != nil })
        // No drop name (operator-given, possibly identifying) in any record.
        #expect(!ours.contains { record in record.values.contains { "\($0)".contains("good.nii") } })
    }
}
}
