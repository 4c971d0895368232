import Configuration
import Foundation
import Testing
@testable import Spool

@Suite struct RecoveryTests {
    func makeJob(_ store: JobStore, state: JobRecord.State, drop: Bool, record: Bool = true) throws -> String {
        let id = JobRecord.newID()
        let dir = store.workDir(id)
        try FileManager.default.createDirectory(atPath: dir + "/drop", withIntermediateDirectories: true)
        if drop { writeFile(dir + "/drop/x.nii", [1, 2, 3]) }
        if record { try store.save(JobRecord(id: id, region: "calf", dropName: "x.nii", state: state, attempts: 1, claimedAt: 1)) }
        return id
    }

    @Test func recoverySweepsTemporariesAndPutsEveryJobInOneState() throws {
        let site = TestSite()
        let store = JobStore(paths: site.paths)
        try store.prepareFolders(inboxes: [site.inbox()])
        let abandoned = try makeJob(store, state: .claiming, drop: false)
        let claimed = try makeJob(store, state: .claiming, drop: true)
        let running = try makeJob(store, state: .running, drop: true)
        let finished = try makeJob(store, state: .running, drop: true)
        let lost = try makeJob(store, state: .pending, drop: true, record: false)
        // `finished` had durable outputs; `running` left a partial temporary output folder.
        try FileManager.default.createDirectory(atPath: store.outboxDir(finished), withIntermediateDirectories: true)
        writeFile(store.outboxDir(finished) + "/manifest.json", Array("{}".utf8))
        try FileManager.default.createDirectory(atPath: store.outboxTemp(running), withIntermediateDirectories: true)
        writeFile(store.outboxTemp(running) + "/image.nii.gz", [0])
        writeFile(site.paths.outbox + "/.manifest.json.tmp-1-2", [0])
        writeFile(store.workDir(running) + "/.job.json.tmp-3-4", [0])
        writeFile(site.inbox() + "/.writer.tmp-9", [0])  // the writer's, never ours to remove

        let report = try store.recover(deleteInput: false)
        #expect(report.abandonedClaims == 1 && report.requeued == 2 && report.finished == 1 && report.lost == 1 && report.temporariesRemoved == 3)
        #expect(!FileManager.default.fileExists(atPath: store.workDir(abandoned)))
        #expect(store.load(dir: store.workDir(claimed))?.state == .pending)
        #expect(store.load(dir: store.workDir(running))?.state == .pending)
        #expect(!FileManager.default.fileExists(atPath: store.outboxTemp(running)))
        #expect(FileManager.default.fileExists(atPath: site.paths.archive + "/" + finished + "/drop/x.nii"))
        #expect(store.load(dir: site.paths.archive + "/" + finished)?.state == .done)
        #expect(store.failureReason(lost)?.code == "lost_record")
        #expect(FileManager.default.fileExists(atPath: site.inbox() + "/.writer.tmp-9"))
        // Nothing temporary is left in the outbox or work folders.
        let leftovers = try FileManager.default.subpathsOfDirectory(atPath: site.paths.outbox) + FileManager.default.subpathsOfDirectory(atPath: site.paths.work)
        #expect(leftovers.allSatisfy { !$0.split(separator: "/").contains { $0.hasPrefix(".") } }, "\(leftovers)")
        // A second sweep changes nothing.
        let again = try store.recover(deleteInput: false)
        var expected = RecoveryReport()
        expected.requeued = 2
        #expect(again == expected)
    }

    @Test func claimOfAVanishedDropLeavesNothingBehind() throws {
        let site = TestSite()
        let store = JobStore(paths: site.paths)
        try store.prepareFolders(inboxes: [site.inbox()])
        #expect(try store.claim(path: site.inbox() + "/gone.nii", region: "thigh", dropName: "gone.nii") == nil)
        #expect(store.jobIDs(in: site.paths.work).isEmpty)
        writeFile(site.inbox() + "/here.nii", [5])
        let record = try #require(try store.claim(path: site.inbox() + "/here.nii", region: "thigh", dropName: "here.nii"))
        #expect(record.state == .pending && JobRecord.isJobID(record.id))
        #expect(!FileManager.default.fileExists(atPath: site.inbox() + "/here.nii"))
        #expect(FileManager.default.contents(atPath: store.dropPath(record)) == Data([5]))
    }

    @Test func jobIDsCarryNoDropName() {
        let id = JobRecord.newID(now: Date(timeIntervalSince1970: 0))
        #expect(id.hasPrefix("19700101T000000Z-"))
        #expect(JobRecord.isJobID(id))
        #expect(!JobRecord.isJobID("19700101T000000Z-SMITH_JO"))
        #expect(!JobRecord.isJobID(".tmp-" + id))
    }

    @Test func retentionPurgesOnlyOldArchives() throws {
        let site = TestSite()
        let store = JobStore(paths: site.paths)
        try store.prepareFolders(inboxes: [])
        for (age, name) in [(40.0, "old"), (1.0, "new")] {
            let id = JobRecord.newID()
            try FileManager.default.createDirectory(atPath: site.paths.archive + "/" + id, withIntermediateDirectories: true)
            var r = JobRecord(id: id, region: "calf", dropName: name, state: .done, claimedAt: 0)
            r.finishedAt = Date().timeIntervalSince1970 - age * 86_400
            writeFile(site.paths.archive + "/" + id + "/job.json", Array(try JSONEncoder().encode(r)))
        }
        #expect(try store.purge(archiveDays: 30, failedDays: 0) == 1)
        let left = store.jobIDs(in: site.paths.archive).compactMap { store.load(dir: site.paths.archive + "/" + $0)?.dropName }
        #expect(left == ["new"])
    }
}
