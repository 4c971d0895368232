import Configuration
import Foundation
import Testing
@testable import Spool

@Suite struct SettlingTests {
    @Test func settlerNeedsTheFullQuietTimeAfterTheLastChange() {
        var settler = Settler(quietFolder: .seconds(2), quietFile: .seconds(1))
        let t0 = ContinuousClock.now
        func seen(_ key: String, _ sig: DropSignature, _ at: Duration) -> Bool { settler.observe(key, sig, now: t0 + at) }
        var sig = DropSignature(isFolder: false, fileCount: 1, totalBytes: 100, newestMtime: 1, inProgress: false, refusal: nil, refusalCode: nil)
        #expect(!seen("a", sig, .zero))
        #expect(!seen("a", sig, .milliseconds(900)))
        sig.totalBytes = 200  // grew
        #expect(!seen("a", sig, .milliseconds(950)))
        #expect(!seen("a", sig, .milliseconds(1900)))
        #expect(seen("a", sig, .milliseconds(1950)))
        // Folders use their own quiet time; an in-progress marker never settles.
        let folder = DropSignature(isFolder: true, fileCount: 3, totalBytes: 1, newestMtime: 1, inProgress: false, refusal: nil, refusalCode: nil)
        #expect(!seen("f", folder, .zero))
        #expect(!seen("f", folder, .milliseconds(1500)))
        #expect(seen("f", folder, .milliseconds(2000)))
        let partial = DropSignature(isFolder: true, fileCount: 3, totalBytes: 1, newestMtime: 1, inProgress: true, refusal: nil, refusalCode: nil)
        #expect(!seen("p", partial, .zero))
        #expect(!seen("p", partial, .seconds(3600)))
    }

    @Test func inspectorSeesGrowthAndCountsOnlyRealFiles() throws {
        let site = TestSite()
        let dir = site.root + "/drop"
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        writeFile(dir + "/a.dcm", [1, 2, 3])
        writeFile(dir + "/sub/b.dcm", [4])
        writeFile(dir + "/.DS_Store", [9, 9])
        let first = try #require(try DropInspector.inspect(dir))
        #expect(first.isFolder && first.fileCount == 2 && first.totalBytes == 6 && !first.inProgress && first.refusal == nil)
        let handle = try #require(FileHandle(forWritingAtPath: dir + "/a.dcm"))
        handle.seekToEndOfFile()
        handle.write(Data([7, 7]))
        try handle.close()
        let second = try #require(try DropInspector.inspect(dir))
        #expect(second.totalBytes == 8)
        #expect(second != first)
        writeFile(dir + "/sub/c.dcm.part", [1])
        #expect(try DropInspector.inspect(dir)?.inProgress == true)
        #expect(try DropInspector.inspect(site.root + "/missing") == nil)
    }

    @Test func aGrowingFileIsNotClaimedUntilQuiet() throws {
        let site = TestSite(quietFile: 0.4)
        let engine = try site.engine()
        let path = site.inbox() + "/scan.nii"
        writeFile(path, [UInt8](repeating: 1, count: 1000))
        // Grow it every 150 ms (shorter than the quiet time) for 1.2 s: it must stay in the inbox.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        for _ in 0..<8 {
            handle.seekToEndOfFile()
            handle.write(Data([UInt8](repeating: 2, count: 1000)))
            runTicks(engine, seconds: 0.15)
            #expect(FileManager.default.fileExists(atPath: path), "claimed while still growing")
            #expect(site.claimedDrops().isEmpty)
        }
        try handle.close()
        runTicks(engine, seconds: 1.0)
        #expect(site.claimedDrops() == ["scan.nii"])
        // The claimed bytes are the final file, untouched (the fake worker failed it; input kept).
        let failedDrop = site.paths.failed + "/" + JobStore(paths: site.paths).jobIDs(in: site.paths.failed)[0] + "/drop/scan.nii"
        #expect((try FileManager.default.attributesOfItem(atPath: failedDrop)[.size] as? Int) == 9000)
    }

    @Test func temporaryNamesAreIgnoredThenProcessedAfterRename() throws {
        let site = TestSite(quietFile: 0.2, quietFolder: 0.3)
        let engine = try site.engine()
        writeFile(site.inbox() + "/a.nii.part", [1, 2, 3])
        writeFile(site.inbox() + "/b.nii.tmp", [1, 2, 3])
        writeFile(site.inbox() + "/.c.nii", [1, 2, 3])
        // A folder drop with a .part inside is still being copied.
        try FileManager.default.createDirectory(atPath: site.inbox() + "/series", withIntermediateDirectories: true)
        writeFile(site.inbox() + "/series/1.dcm", [1])
        writeFile(site.inbox() + "/series/2.dcm.part", [1])
        runTicks(engine, seconds: 1.0)
        #expect(site.claimedDrops().isEmpty)
        try FileManager.default.moveItem(atPath: site.inbox() + "/a.nii.part", toPath: site.inbox() + "/a.nii")
        try FileManager.default.moveItem(atPath: site.inbox() + "/series/2.dcm.part", toPath: site.inbox() + "/series/2.dcm")
        runTicks(engine, seconds: 1.0)
        #expect(site.claimedDrops() == ["a.nii", "series"])
        #expect(FileManager.default.fileExists(atPath: site.inbox() + "/b.nii.tmp"))
        #expect(FileManager.default.fileExists(atPath: site.inbox() + "/.c.nii"))
    }

    @Test func inotifyFindsNewDropsBetweenRescans() throws {
        let site = TestSite(quietFile: 0.1)
        site.config.inbox.rescanIntervalSeconds = 3600
        let engine = try site.engine()
        runTicks(engine, seconds: 0.3)  // the first full rescan happens now; the next in an hour
        writeFile(site.inbox() + "/late.nii", [1, 2])
        runTicks(engine, seconds: 1.0)
        #expect(site.claimedDrops() == ["late.nii"], "a new drop was not seen without a rescan")
    }

    @Test func diskWatermarkPausesIntakeAndResumes() throws {
        let site = TestSite(quietFile: 0.1)
        site.config.disk.minFreePercent = 99.99
        let engine = try site.engine()
        writeFile(site.inbox() + "/a.nii", [1])
        runTicks(engine, seconds: 0.6)
        #expect(engine.intakePaused)
        #expect(site.claimedDrops().isEmpty)
        #expect(engine.statusLine().contains("intake paused"))
        var relaxed = site.config
        relaxed.disk.minFreePercent = 0
        try engine.apply(relaxed, file: "t")
        runTicks(engine, seconds: 1.5)
        #expect(!engine.intakePaused)
        #expect(site.claimedDrops() == ["a.nii"])
    }
}
