import Configuration
import Foundation
import ImagingCore
import Testing
@testable import Spool

@Suite struct SafetyTests {
    @Test func symlinksFIFOsAndHardLinksAreRefusedWithoutTouchingTheirTargets() throws {
        let site = TestSite(quietFile: 0.1, quietFolder: 0.1)
        let engine = try site.engine()
        let outside = site.root + "/outside.dat"
        writeFile(outside, [1, 2, 3, 4])
        let inbox = site.inbox()
        try FileManager.default.createSymbolicLink(atPath: inbox + "/evil.nii", withDestinationPath: outside)
        #expect(mkfifo(inbox + "/pipe.dcm", 0o644) == 0)
        #expect(link(outside, inbox + "/hard.nii") == 0)
        try FileManager.default.createDirectory(atPath: inbox + "/series", withIntermediateDirectories: true)
        writeFile(inbox + "/series/1.dcm", [1])
        try FileManager.default.createSymbolicLink(atPath: inbox + "/series/2.dcm", withDestinationPath: outside)
        runTicks(engine, seconds: 1.0)
        #expect(site.failures() == ["evil.nii": "unsafe_input", "pipe.dcm": "unsafe_input", "hard.nii": "unsafe_input", "series": "unsafe_input"])
        // The target is untouched and the symlink was moved as a link, not followed.
        #expect(FileManager.default.contents(atPath: outside) == Data([1, 2, 3, 4]))
        let store = JobStore(paths: site.paths)
        let evil = try #require(store.jobIDs(in: site.paths.failed).first { store.load(dir: site.paths.failed + "/" + $0)?.dropName == "evil.nii" })
        var st = stat()
        #expect(lstat(site.paths.failed + "/" + evil + "/drop/evil.nii", &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK)
        #expect(store.failureReason(evil)?.stage == "intake")
    }

    @Test func workerPrecheckRefusesSymlinkFIFOAndHardLinkByFstat() throws {
        let site = TestSite()
        let dir = site.root + "/drop"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        writeFile(dir + "/1.dcm", Array("hello".utf8))
        writeFile(dir + "/.hidden", [0])
        let files = try InputFiles.collect(drop: dir)
        #expect(files.map(\.path) == ["1.dcm"])
        #expect(files[0].sha256 == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        for (name, make) in [("s.dcm", { try FileManager.default.createSymbolicLink(atPath: dir + "/s.dcm", withDestinationPath: dir + "/1.dcm") }),
                             ("f.dcm", { _ = mkfifo(dir + "/f.dcm", 0o644) }),
                             ("h.dcm", { _ = link(dir + "/1.dcm", dir + "/h.dcm") })] as [(String, () throws -> Void)] {
            try make()
            #expect(throws: SpoolError.self, "\(name) accepted") { try InputFiles.collect(drop: dir) }
            do { _ = try InputFiles.collect(drop: dir) } catch let error as SpoolError { #expect(error.code == .unsafeInput) }
            unlink(dir + "/" + name)
        }
    }

    @Test func secondLockOnTheSameStateFolderFailsFast() throws {
        let site = TestSite()
        try FileManager.default.createDirectory(atPath: site.paths.state, withIntermediateDirectories: true)
        var first: SpoolLock? = try SpoolLock(stateDirectory: site.paths.state)
        #expect(SpoolLock.holder(stateDirectory: site.paths.state) == getpid())
        do {
            _ = try SpoolLock(stateDirectory: site.paths.state)
            Issue.record("a second lock was granted")
        } catch let error as SpoolError {
            #expect(error.code == .locked)
        }
        _ = first
        first = nil
        #expect(SpoolLock.holder(stateDirectory: site.paths.state) == nil)
        _ = try SpoolLock(stateDirectory: site.paths.state)
    }

    @Test func sha256MatchesTheFIPSExamples() {
        func hex(_ bytes: [UInt8]) -> String { var h = SHA256(); h.update(bytes); return h.finalizeHex() }
        #expect(hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var h = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { h.update(Array(chunk[0..<333])); h.update(Array(chunk[333...])) }
        #expect(h.finalizeHex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
