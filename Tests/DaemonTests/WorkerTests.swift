import Foundation
import Testing
@testable import Spool

extension DaemonSuite {
@Suite struct WorkerTests {
    @Test(.enabled(if: segvolBinary != nil), .timeLimit(.minutes(2)))
    func workerOverItsDeadlineIsRetriedThenFailedWithTheInputUntouched() throws {
        let site = DaemonSite(extra: ["worker": ["time_limit_s": "0.15", "max_attempts": "3", "backoff_s": "0.1"]])
        // 16 M voxels: well over 0.15 s to start, hash, convert and write, even in a release build.
        let original = try site.dropRawNIfTI("big.nii", shape: [512, 512, 64])
        let serve = try site.serve(["--exit-when-idle"])
        let status = waitExit(serve, 60)
        #expect(status == 0, "the daemon must survive its workers")
        if status == nil { serve.terminate() }
        let store = site.store
        let id = try #require(store.jobIDs(in: site.paths.failed).first)
        let reason = try #require(store.failureReason(id))
        #expect(reason.code == "worker_timeout")
        #expect(reason.attempts == 3)
        #expect(reason.stage == "worker")
        #expect(try Data(contentsOf: URL(fileURLWithPath: site.paths.failed + "/" + id + "/drop/big.nii")) == original)
        #expect(try FileManager.default.contentsOfDirectory(atPath: site.paths.outbox).isEmpty)
        // `segvol status` tells the operator what happened, with the daemon stopped.
        let report = try runSegvol(["status", "--config", site.configPath])
        #expect(report.code == 0)
        #expect(report.out.contains("daemon: not running"))
        #expect(report.out.contains("failed: 1 job(s)") && report.out.contains(id + "  [worker_timeout] at worker after 3 attempt(s)"), "\(report.out)")
        #expect(report.out.contains("queue: 0 job(s)") && report.out.contains("disk: "))
    }

    @Test(.enabled(if: segvolBinary != nil), .timeLimit(.minutes(2)))
    func workerOverItsMemoryLimitFailsTheJobNotTheDaemon() throws {
        let site = DaemonSite(extra: ["worker": ["memory_limit_mb": "256", "max_attempts": "2", "backoff_s": "0.1"]])
        // 512x512x64 voxels: 64 MiB as floats once read, plus the worker's own address space.
        let original = try site.dropRawNIfTI("huge.nii", shape: [512, 512, 64])
        try site.dropNIfTI("small.nii", region: "calf")
        let serve = try site.serve(["--exit-when-idle"])
        let status = waitExit(serve, 90)
        #expect(status == 0, "the daemon must survive its workers")
        if status == nil { serve.terminate() }
        let store = site.store
        let id = try #require(store.jobIDs(in: site.paths.failed).first)
        let reason = try #require(store.failureReason(id))
        #expect(reason.code == "worker_crashed", "\(reason)")
        #expect(reason.attempts == 2)
        #expect(try Data(contentsOf: URL(fileURLWithPath: site.paths.failed + "/" + id + "/drop/huge.nii")) == original)
        // The other job, under the same limit, is done.
        #expect(store.jobIDs(in: site.paths.archive).count == 1)
    }

    @Test(.enabled(if: segvolBinary != nil), .timeLimit(.minutes(2)))
    func killedWorkerIsRetriedAndTheJobCompletes() throws {
        let site = DaemonSite(extra: ["worker": ["max_attempts": "3", "backoff_s": "0.2"]])
        try site.dropNIfTI("a.nii", shape: [256, 256, 48])
        let serve = try site.serve()
        defer { if serve.isRunning { serve.terminate() } }
        // Kill the first worker as soon as it is running (its PID is in the job record).
        var killed: Int32 = 0
        #expect(waitFor(30) {
            guard let id = site.store.jobIDs(in: site.paths.work).first, let pid = site.store.load(dir: site.paths.work + "/" + id)?.workerPID else { return false }
            killed = pid
            return kill(pid, SIGKILL) == 0
        })
        #expect(waitFor(60) { site.store.jobIDs(in: site.paths.archive).count == 1 })
        let id = try #require(site.store.jobIDs(in: site.paths.archive).first)
        let record = try #require(site.store.load(dir: site.paths.archive + "/" + id))
        #expect(record.attempts == 2, "killed worker \(killed): one retry expected")
        #expect(serve.isRunning)
        serve.terminate()
        #expect(waitExit(serve, 20) == 0)
    }

    @Test(.enabled(if: segvolBinary != nil), .timeLimit(.minutes(1)))
    func secondInstanceFailsFastOnTheLockAndHarmsNothing() throws {
        let site = DaemonSite()
        let first = try site.serve()
        defer { if first.isRunning { first.terminate() } }
        #expect(waitFor(20) { SpoolLock.holder(stateDirectory: site.paths.state) == first.processIdentifier })
        let start = Date()
        let second = try site.serve()
        let status = waitExit(second, 10)
        #expect(status == 69)
        #expect(Date().timeIntervalSince(start) < 5)
        #expect(first.isRunning)
        // The first instance still works after the second one's attempt.
        try site.dropNIfTI("after.nii")
        #expect(waitFor(30) { site.store.jobIDs(in: site.paths.archive).count == 1 })
        first.terminate()
        #expect(waitExit(first, 20) == 0)
    }

    @Test(.enabled(if: segvolBinary != nil), .timeLimit(.minutes(1)))
    func folderOfNIfTIFilesGivesOneScanEachWithHashedOutputs() throws {
        let site = DaemonSite()
        site.sections["metrics"] = ["textfile": "\"\(site.root)/segvol.prom\""]
        site.writeConfig()
        let staging = site.root + "/staging"
        try FileManager.default.createDirectory(atPath: staging + "/visit/sub", withIntermediateDirectories: true)
        try site.dropNIfTI("a.nii.gz", region: "calf")
        try FileManager.default.moveItem(atPath: site.inbox("calf") + "/a.nii.gz", toPath: staging + "/visit/a.nii.gz")
        try site.dropNIfTI("b.nii", region: "calf", shape: [4, 4, 2])
        try FileManager.default.moveItem(atPath: site.inbox("calf") + "/b.nii", toPath: staging + "/visit/sub/b.nii")
        FileManager.default.createFile(atPath: staging + "/visit/notes.txt", contents: Data("hello".utf8))
        try FileManager.default.moveItem(atPath: staging + "/visit", toPath: site.inbox("calf") + "/visit")
        let serve = try site.serve(["--exit-when-idle"])
        #expect(waitExit(serve, 30) == 0)
        let id = try #require(site.store.jobIDs(in: site.paths.outbox).first)
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: site.paths.outbox + "/" + id + "/manifest.json"))) as? [String: Any])
        let scans = try #require(manifest["scans"] as? [[String: Any]])
        #expect(scans.compactMap { $0["dir"] as? String }.sorted() == ["nifti1", "nifti2"])
        #expect(Set(scans.compactMap { $0["shape"] as? [Int] }) == [[8, 8, 4], [4, 4, 2]])
        #expect((manifest["skippedFiles"] as? [[String: Any]])?.count == 1)
        #expect((manifest["inputs"] as? [[String: Any]])?.count == 3)
        for dir in ["nifti1", "nifti2"] {
            #expect(FileManager.default.fileExists(atPath: site.paths.outbox + "/" + id + "/" + dir + "/image.nii.gz"))
        }
        // The Prometheus textfile was rewritten with the final counters.
        let prom = try String(contentsOfFile: site.root + "/segvol.prom", encoding: .utf8)
        #expect(prom.contains("\nsegvol_jobs_done_total 1\n") && prom.contains("\nsegvol_jobs_failed_total 0\n") && prom.contains("\nsegvol_queue_jobs 0\n"), "\(prom)")
        #expect(prom.contains("# TYPE segvol_jobs_done_total counter"))
    }

    @Test(.enabled(if: segvolBinary != nil), .timeLimit(.minutes(1)))
    func sigtermMidJobRequeuesItWithinTheStopTimeoutAndExitsZero() throws {
        let site = DaemonSite(extra: ["worker": ["stop_timeout_s": "0.2"]])
        try site.dropRawNIfTI("long.nii", shape: [512, 512, 64])
        let serve = try site.serve()
        defer { if serve.isRunning { serve.terminate() } }
        var worker: Int32 = 0
        #expect(waitFor(20) {
            guard let id = site.store.jobIDs(in: site.paths.work).first, let pid = site.store.load(dir: site.paths.work + "/" + id)?.workerPID else { return false }
            worker = pid
            return true
        })
        let start = Date()
        serve.terminate()  // SIGTERM
        #expect(waitExit(serve, 10) == 0)
        #expect(Date().timeIntervalSince(start) < 3, "stop took longer than the stop timeout allows")
        #expect(kill(worker, 0) != 0, "the worker outlived the daemon")
        let id = try #require(site.store.jobIDs(in: site.paths.work).first)
        let record = try #require(site.store.load(dir: site.paths.work + "/" + id))
        #expect(record.state == .pending && record.attempts == 0, "\(record)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: site.paths.outbox).isEmpty)
        // The next start finishes it.
        let again = try site.serve(["--exit-when-idle"])
        #expect(waitExit(again, 60) == 0)
        #expect(site.store.jobIDs(in: site.paths.archive) == [id])
    }

    @Test(.enabled(if: segvolBinary != nil))
    func checkConfigNamesTheKey() throws {
        let site = DaemonSite(extra: ["inbox": ["quiet_file_s": "\"soon\""]])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: segvolBinary!)
        process.arguments = ["check-config", "--config", site.configPath]
        let pipe = Pipe()
        process.standardError = pipe
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 78)
        #expect(text.contains("inbox.quiet_file_s"), "\(text)")
    }
}
}
