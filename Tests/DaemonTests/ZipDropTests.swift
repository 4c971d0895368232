import Foundation
import Testing
@testable import Spool

/// The `zip` tool (Info-ZIP, Makefile TEST_DEBS) makes the real-world archives.
let zipTool: String? = ["/usr/bin/zip", "/bin/zip"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// Runs a tool in `directory`; returns its exit status.
@discardableResult
func runTool(_ tool: String, _ arguments: [String], in directory: String) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}

extension DaemonSuite {
@Suite struct ZipDropTests {
    /// Moves a finished file into an inbox the way operators are told to (dotted name, rename).
    static func drop(_ file: String, as name: String, into inbox: String) throws {
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: file, toPath: inbox + "/." + name)
        try FileManager.default.moveItem(atPath: inbox + "/." + name, toPath: inbox + "/" + name)
    }

    @Test(.enabled(if: segvolBinary != nil && zipTool != nil), .timeLimit(.minutes(5)))
    func zipDropMeasuresLikeTheFolderAndHostileZipsFailWithTheirCodeKeepingTheInput() throws {
        let site = DaemonSite()
        let model = try SegmentationDaemonTests.writeModel(in: site.root)
        site.sections["model"] = ["dir": "\"\(model)\""]
        site.writeConfig()
        let thigh = try SegmentationDaemonTests.phantom("thigh", dicom: true, in: site.root)
        let work = site.root + "/zips"
        try FileManager.default.createDirectory(atPath: work + "/export/deeper", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: thigh + "/image", toPath: work + "/export/deeper/series")
        // Real archives from Info-ZIP: the series two folders down, deflated; a password; a symlink.
        #expect(try runTool(zipTool!, ["-r", "-q", "good.zip", "export"], in: work) == 0)
        #expect(try runTool(zipTool!, ["-r", "-q", "-P", "secret", "encrypted.zip", "export"], in: work) == 0)
        try FileManager.default.createSymbolicLink(atPath: work + "/link", withDestinationPath: "/etc/passwd")
        #expect(try runTool(zipTool!, ["-q", "--symlinks", "symlink.zip", "link"], in: work) == 0)
        FileManager.default.createFile(atPath: work + "/zeros", contents: Data(count: 4 << 20))
        #expect(try runTool(zipTool!, ["-q", "bomb.zip", "zeros"], in: work) == 0)
        #expect(try runTool(zipTool!, ["-q", "nested.zip", "good.zip"], in: work) == 0)
        let good = try Data(contentsOf: URL(fileURLWithPath: work + "/good.zip"))
        FileManager.default.createFile(atPath: work + "/truncated.zip", contents: good.prefix(good.count / 2))
        ZipFixture(entries: [.init(name: "../../../escaped", data: Array("x".utf8))]).write(to: work + "/traversal.zip")

        let inbox = site.inbox("thigh")
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: thigh + "/image", toPath: inbox + "/folder-drop")
        let hostile = ["encrypted.zip": "zip_encrypted", "symlink.zip": "zip_symlink", "bomb.zip": "zip_too_large",
                       "nested.zip": "zip_nested", "truncated.zip": "zip_corrupt", "traversal.zip": "zip_unsafe_path"]
        for name in ["good.zip"] + hostile.keys.sorted() { try Self.drop(work + "/" + name, as: name, into: inbox) }

        let serve = try site.serve(["--exit-when-idle"])
        let status = waitExit(serve, 240)
        if status == nil { serve.terminate() }
        #expect(status == 0)
        let store = site.store
        var byName: [String: (id: String, folder: String)] = [:]
        for folder in [site.paths.archive, site.paths.failed] {
            for id in store.jobIDs(in: folder) { byName[store.load(dir: folder + "/" + id)?.dropName ?? "?"] = (id, folder) }
        }
        // The good zip and the folder give the same scan and the same volumes.
        let zipJob = try #require(byName["good.zip"]), folderJob = try #require(byName["folder-drop"])
        #expect(zipJob.folder == site.paths.archive && folderJob.folder == site.paths.archive, "\(byName)")
        let zipVolumes = try SegmentationDaemonTests.csv(site.paths.outbox + "/" + zipJob.id + "/volumes.csv")
        let folderVolumes = try SegmentationDaemonTests.csv(site.paths.outbox + "/" + folderJob.id + "/volumes.csv")
        #expect(zipVolumes.count > 1 && zipVolumes == folderVolumes)
        #expect(sha256(site.paths.outbox + "/" + zipJob.id + "/labels.nii.gz") == sha256(site.paths.outbox + "/" + folderJob.id + "/labels.nii.gz"))
        // The archived input is the zip itself, byte for byte; its unpacked copy is gone.
        #expect(try Data(contentsOf: URL(fileURLWithPath: zipJob.folder + "/" + zipJob.id + "/drop/good.zip")) == good)
        #expect(!FileManager.default.fileExists(atPath: zipJob.folder + "/" + zipJob.id + "/unzipped"))
        let manifest = try SegmentationDaemonTests.json(site.paths.outbox + "/" + zipJob.id + "/manifest.json")
        let inputs = (manifest["inputs"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String }
        #expect(inputs.first == "good.zip" && inputs.count == 4 && inputs.dropFirst().allSatisfy { $0.hasPrefix("good.zip/export/deeper/series/") }, "\(inputs)")

        for (name, code) in hostile {
            let job = try #require(byName[name], "\(name) not found: \(byName)")
            #expect(job.folder == site.paths.failed, "\(name)")
            let reason = try #require(store.failureReason(job.id))
            #expect(reason.code == code && reason.stage == "unzip" && reason.attempts == 1, "\(name): \(reason)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: job.folder + "/" + job.id + "/drop/" + name))
                    == Data(contentsOf: URL(fileURLWithPath: work + "/" + name)), "\(name) changed")
            #expect(!FileManager.default.fileExists(atPath: job.folder + "/" + job.id + "/unzipped"), "\(name)")
        }
        #expect(!FileManager.default.fileExists(atPath: site.paths.root + "/escaped") && !FileManager.default.fileExists(atPath: site.paths.work + "/escaped"))
    }

    /// Late instances: a series first dropped with 4 of its 6 slices, then the 2 missing ones,
    /// then all 6. The late drop fails with `late_instances` naming the first job; the complete
    /// re-drop is processed and supersedes it.
    @Test(.enabled(if: segvolBinary != nil), .timeLimit(.minutes(4)))
    func lateInstancesFailNamingTheEarlierJobAndACompleteReDropSupersedesIt() throws {
        let site = DaemonSite()
        let out = site.root + "/phantom"
        let r = try runSegvol(["phantom", "--region", "thigh", "--seed", "2", "--matrix", "32x32", "--slices", "6", "-o", out, "--dicom"])
        #expect(r.code == 0, "\(r.err)")
        let series = out + "/phantom-thigh-2-v1/image"
        let files = try FileManager.default.contentsOfDirectory(atPath: series).sorted()
        try #require(files.count == 6)
        let inbox = site.inbox("thigh")
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        func dropFolder(_ name: String, _ subset: ArraySlice<String>) throws {
            try FileManager.default.createDirectory(atPath: site.root + "/" + name, withIntermediateDirectories: true)
            for file in subset { try FileManager.default.copyItem(atPath: series + "/" + file, toPath: site.root + "/" + name + "/" + file) }
            try FileManager.default.moveItem(atPath: site.root + "/" + name, toPath: inbox + "/" + name)
            let serve = try site.serve(["--exit-when-idle"])
            let status = waitExit(serve, 60)
            if status == nil { serve.terminate() }
            #expect(status == 0)
        }
        func job(_ name: String) -> (id: String, folder: String)? {
            for folder in [site.paths.archive, site.paths.failed] {
                for id in site.store.jobIDs(in: folder) where site.store.load(dir: folder + "/" + id)?.dropName == name { return (id, folder) }
            }
            return nil
        }
        try dropFolder("first", files[0..<4])
        let first = try #require(job("first"))
        #expect(first.folder == site.paths.archive)

        try dropFolder("late", files[4..<6])
        let late = try #require(job("late"))
        #expect(late.folder == site.paths.failed)
        let reason = try #require(site.store.failureReason(late.id))
        #expect(reason.code == "late_instances" && reason.attempts == 1)
        #expect(reason.message.contains("job \(first.id) already processed from 4 instance(s); 2 of them are new and 4 processed then are not in this drop"), "\(reason.message)")
        #expect(reason.message.contains("Re-drop the complete series"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: late.folder + "/" + late.id + "/drop/late").sorted() == Array(files[4..<6]))

        try dropFolder("complete", files[0..<6])
        let complete = try #require(job("complete"))
        #expect(complete.folder == site.paths.archive, "\(String(describing: site.store.failureReason(complete.id)))")
        let manifest = try SegmentationDaemonTests.json(site.paths.outbox + "/" + complete.id + "/manifest.json")
        #expect(manifest["supersedes"] as? [String] == [first.id])
        #expect((manifest["scans"] as? [[String: Any]])?.first?["shape"] as? [Int] == [32, 32, 6])
        // The index now holds the complete series: the late files alone are still late.
        #expect(try FileManager.default.contentsOfDirectory(atPath: site.paths.seriesIndex).count == 1)
        let records = try FileManager.default.contentsOfDirectory(atPath: site.paths.seriesIndex)
        let record = try JSONDecoder().decode(SeriesIndex.Record.self, from: Data(contentsOf: URL(fileURLWithPath: site.paths.seriesIndex + "/" + records[0])))
        #expect(record.job == complete.id && record.instances.count == 6)
    }
}
}
