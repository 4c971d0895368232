import Configuration
import Foundation
import Testing
@testable import Spool

/// A folder drop with a `*.part`/`*.tmp` file waits for its copy; once nothing in it changed for
/// `inbox.stale_partial_after_s` (monotonic clock) it fails with `incomplete_transfer`, whole.
@Suite struct StalePartialTests {
    @Test func settlerCallsAPartialFolderStaleOnlyAfterItsTimeWithoutChange() {
        var settler = Settler(quietFolder: .seconds(2), quietFile: .seconds(1), stalePartialAfter: .seconds(10))
        let t0 = ContinuousClock.now
        var partial = DropSignature(isFolder: true, fileCount: 3, totalBytes: 10, newestMtime: 1, inProgress: true, refusal: nil, refusalCode: nil, partialFiles: 1)
        #expect(settler.settle("p", partial, now: t0) == .waiting)
        #expect(settler.settle("p", partial, now: t0 + .seconds(9)) == .waiting)
        partial.totalBytes = 11  // the .part file grew: the copy is alive, the clock restarts
        #expect(settler.settle("p", partial, now: t0 + .milliseconds(9500)) == .waiting)
        #expect(settler.settle("p", partial, now: t0 + .milliseconds(19_400)) == .waiting)
        #expect(settler.settle("p", partial, now: t0 + .milliseconds(19_500)) == .stalePartial)
        // Without a partial file the same folder settles after its quiet time, never "stale".
        var done = partial
        done.inProgress = false
        #expect(settler.settle("d", done, now: t0) == .waiting)
        #expect(settler.settle("d", done, now: t0 + .seconds(2)) == .settled)
        #expect(settler.settle("d", done, now: t0 + .seconds(100)) == .settled)
    }

    @Test func aDeadCopyFailsWithIncompleteTransferKeepingEveryFile() throws {
        let site = TestSite(quietFile: 0.2, quietFolder: 0.3)
        site.config.inbox.stalePartialAfterSeconds = 5
        site.config.inbox.rescanIntervalSeconds = 3600
        let engine = try site.engine()
        let folder = site.inbox() + "/series"
        try FileManager.default.createDirectory(atPath: folder + "/sub", withIntermediateDirectories: true)
        writeFile(folder + "/1.dcm", [1, 2])
        writeFile(folder + "/sub/2.dcm.part", [3, 4, 5])
        writeFile(folder + "/3.dcm.tmp", [6])
        // Only .part files: still a copy in progress, so it is watched (and can go stale) too.
        try FileManager.default.createDirectory(atPath: site.inbox() + "/only-partial", withIntermediateDirectories: true)
        writeFile(site.inbox() + "/only-partial/a.dcm.part", [1])
        let t0 = ContinuousClock.now
        engine.scanInboxes(now: t0)
        engine.scanInboxes(now: t0 + .seconds(4))
        #expect(site.claimedDrops().isEmpty, "claimed before stale_partial_after_s")
        // The copy moves at 4 s: the folder's clock restarts, the other one's does not.
        let handle = try #require(FileHandle(forWritingAtPath: folder + "/sub/2.dcm.part"))
        handle.seekToEndOfFile()
        handle.write(Data([9]))
        try handle.close()
        engine.scanInboxes(now: t0 + .milliseconds(4100))
        engine.scanInboxes(now: t0 + .seconds(6))
        #expect(site.claimedDrops() == ["only-partial"])
        engine.scanInboxes(now: t0 + .seconds(9))
        #expect(site.claimedDrops() == ["only-partial"])
        engine.scanInboxes(now: t0 + .milliseconds(9200))
        #expect(site.claimedDrops() == ["only-partial", "series"])
        #expect(site.failures() == ["only-partial": "incomplete_transfer", "series": "incomplete_transfer"])
        // Everything is in failed/<job>/drop/, partial files untouched; the reason counts them.
        let store = JobStore(paths: site.paths)
        let id = try #require(store.jobIDs(in: site.paths.failed).first { store.load(dir: site.paths.failed + "/" + $0)?.dropName == "series" })
        let drop = site.paths.failed + "/" + id + "/drop/series"
        #expect(FileManager.default.contents(atPath: drop + "/1.dcm") == Data([1, 2]))
        #expect(FileManager.default.contents(atPath: drop + "/sub/2.dcm.part") == Data([3, 4, 5, 9]))
        #expect(FileManager.default.contents(atPath: drop + "/3.dcm.tmp") == Data([6]))
        let reason = try #require(store.failureReason(id))
        #expect(reason.stage == "intake" && reason.attempts == 0)
        #expect(reason.message.contains("2 partial files") && reason.message.contains("inbox.stale_partial_after_s (5 s)"), "\(reason.message)")
    }
}
