import Anatomy
import Foundation
import ImagingCore
import NeuralEngine
import NIfTIIO
import Segmentation
import Testing
@testable import Spool

/// `segvol serve` with the segmentation stage: a tiny random-weight model, phantom drops, the
/// outbox files, the reports in reports/ (no duplicates after a crash), and a site without model.
extension DaemonSuite {
@Suite struct SegmentationDaemonTests {
    /// plan.json over the catalog with thigh and calf regions, random weights (width 4, depth 2).
    static func writeModel(in dir: String) throws -> String {
        let model = dir + "/tiny-model"
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        let catalog = try LabelCatalog.load(path: packageRoot + "/Config/labels.toml")
        let outputs = [ModelPlan.OutputClass(id: 0, name: "background")] + catalog.classes.map { .init(id: $0.id, name: $0.name) }
        var regions: [String: ModelPlan.RegionPlan] = [:]
        for region in [Region.thigh, .calf] {
            regions[region.rawValue] = .init(profile: .init(inPlaneSpacing: 2.0), normalization: .mr, classIDs: catalog.classes(in: region).map(\.id))
        }
        let plan = ModelPlan(architecture: .init(baseWidth: 4, depth: 2), inputSize: [64, 64], outputs: outputs, regions: regions, loss: "xent_plus")
        try JSONEncoder().encode(plan).write(to: URL(fileURLWithPath: model + "/plan.json"))
        try UNet(config: UNetConfig(inChannels: 1, classes: outputs.count, baseWidth: 4, depth: 2), seed: 5)
            .saveCheckpoint(to: model + "/weights.safetensors")
        return model
    }

    /// A phantom (48², 3 slices) made by `segvol phantom`; returns its folder.
    static func phantom(_ region: String, dicom: Bool, in dir: String) throws -> String {
        let out = dir + "/phantom-\(region)\(dicom ? "-dcm" : "")"
        let r = try runSegvol(["phantom", "--region", region, "--seed", "4", "--matrix", "48x48", "--slices", "3", "-o", out] + (dicom ? ["--dicom"] : []))
        #expect(r.code == 0, "\(r.err)")
        return out + "/phantom-\(region)-4-v1"
    }

    static func csv(_ path: String) throws -> [[String]] {
        try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\r\n").dropLast().map { $0.components(separatedBy: ",") }
    }

    static func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    }

    /// HMAC-SHA256 (RFC 2104), written here independently of the daemon's.
    static func hmac(key: [UInt8], _ message: String) -> String {
        func digest(_ bytes: [UInt8]) -> [UInt8] {
            var h = SHA256()
            h.update(bytes)
            let hex = Array(h.finalizeHex().utf8)
            return stride(from: 0, to: 64, by: 2).map { UInt8(String(decoding: hex[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
        }
        let k = key + [UInt8](repeating: 0, count: 64 - key.count)
        let inner = digest(k.map { $0 ^ 0x36 } + Array(message.utf8))
        return digest(k.map { $0 ^ 0x5c } + inner).map { String(format: "%02x", $0) }.joined()
    }

    /// The reference HMAC the pseudonym test compares with, checked on RFC 4231 test case 2.
    @Test func referenceHMACMatchesRFC4231() {
        #expect(Self.hmac(key: Array("Jefe".utf8), "what do ya want for nothing?")
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test(.enabled(if: segvolBinary != nil), .timeLimit(.minutes(5)))
    func dropsAreSegmentedMeasuredAndReportedOnceEvenAfterACrash() throws {
        let site = DaemonSite()
        let model = try Self.writeModel(in: site.root)
        site.sections["model"] = ["dir": "\"\(model)\""]
        site.writeConfig()
        let calf = try Self.phantom("calf", dicom: false, in: site.root)
        let thigh = try Self.phantom("thigh", dicom: true, in: site.root)
        try FileManager.default.createDirectory(atPath: site.inbox("calf"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: site.inbox("thigh"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: calf + "/image.nii.gz", toPath: site.inbox("calf") + "/=calf scan.nii.gz")
        try FileManager.default.copyItem(atPath: thigh + "/image", toPath: site.inbox("thigh") + "/thigh-dicom")

        let serve = try site.serve(["--exit-when-idle"])
        let status = waitExit(serve, 180)
        if status == nil { serve.terminate() }
        #expect(status == 0)
        let log = try String(contentsOfFile: try FileManager.default.contentsOfDirectory(atPath: site.root)
            .filter { $0.hasPrefix("serve-") }.map { site.root + "/" + $0 }.first!, encoding: .utf8)
        #expect(log.contains("model loaded") && log.contains("event=model.loaded"), "\(log.suffix(3000))")

        let store = site.store
        let jobs = store.jobIDs(in: site.paths.archive)
        #expect(jobs.count == 2, "archived: \(jobs), failed: \(store.jobIDs(in: site.paths.failed)) \(log.suffix(2000))")
        let weights = try #require(sha256(model + "/weights.safetensors"))
        let key = try #require(FileManager.default.contents(atPath: site.paths.state + "/pseudonym.key"))
        #expect(key.count == 32)
        #expect((try FileManager.default.attributesOfItem(atPath: site.paths.state + "/pseudonym.key")[.posixPermissions] as? Int) == 0o600)

        let tidy = try Self.csv(site.paths.reports + "/volumes.csv")
        #expect(tidy.first == ["job_id", "scan", "drop_name", "patient_pseudonym", "study_date", "region", "model_version",
                               "class_id", "class_name", "side", "volume_ml", "voxels", "slices", "truncated"])
        for id in jobs {
            let record = try #require(store.load(dir: site.paths.archive + "/" + id))
            let out = site.paths.outbox + "/" + id
            for file in ["image.nii.gz", "labels.nii.gz", "volumes.csv", "qc.png", "manifest.json"] {
                #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(record.dropName): \(file) missing")
            }
            let manifest = try Self.json(out + "/manifest.json")
            let m = try #require(manifest["model"] as? [String: Any])
            #expect(m["weightsSHA256"] as? String == weights && m["version"] as? String == "tiny-model")
            #expect(((manifest["timings"] as? [String: Double])?["load_model"] ?? -1) >= 0)
            let scan = try #require((manifest["scans"] as? [[String: Any]])?.first)
            let seg = try #require(scan["segmentation"] as? [String: Any])
            #expect(seg["region"] as? String == record.region)
            // The manifest lists the segmentation outputs with their hashes.
            let listed = Set((scan["outputs"] as! [[String: Any]]).map { $0["path"] as! String })
            #expect(listed == ["image.nii.gz", "labels.nii.gz", "volumes.csv", "qc.png"])

            // Report rows of this job: one per row of the job's volumes.csv (class × side).
            let rows = tidy.dropFirst().filter { $0[0] == id }
            let perScan = try Self.csv(out + "/volumes.csv").dropFirst()
            #expect(rows.count == perScan.count && rows.count > 0)
            #expect(Set(rows.map { "\($0[7])|\($0[9])" }).count == rows.count, "a class × side twice")
            // Volumes add up to the label map: voxels = labelled voxels, mL = voxels × voxel volume.
            let (labels, _) = try NIfTIReader.readLabels(path: out + "/labels.nii.gz")
            let labelled = labels.data.filter { $0 != 0 }.count
            let voxels = rows.reduce(0) { $0 + Int($1[11])! }
            let ml = rows.reduce(0.0) { $0 + Double($1[10])! }
            #expect(voxels == labelled)
            #expect(abs(ml - Double(labelled) * labels.grid.voxelVolume / 1000) <= 0.0005 * Double(rows.count) + 1e-9)
            #expect(rows.allSatisfy { $0[5] == record.region && $0[6] == "tiny-model" })

            let wide = try Self.csv(site.paths.reports + "/volumes_\(record.region).csv")
            #expect(wide.count == 2, "one header and one scan")
            #expect(wide[1][0] == id)
            if record.region == "calf" {
                // Operator-given name, neutralised against formulas; NIfTI has no patient or date.
                #expect(rows.allSatisfy { $0[2] == "'=calf scan.nii.gz" && $0[3] == "" })
            } else {
                let truth = try Self.json(thigh + "/truth.json")
                let expected = String(Self.hmac(key: Array(key), truth["subject"] as! String).prefix(16))
                #expect(rows.allSatisfy { $0[2] == "thigh-dicom" && $0[3] == expected && $0[4] == "20260108" }, "\(rows.first!)")
                #expect(wide[1][3] == expected)
            }
            // Wide columns: every region class × left, right, unsplit, in catalog order.
            let catalog = try LabelCatalog.load(path: packageRoot + "/Config/labels.toml")
            let names = catalog.classes(in: Region(rawValue: record.region)!).map(\.name)
            #expect(Array(wide[0].dropFirst(6)) == names.flatMap { n in ["left", "right", "unsplit"].map { "\(n)_\($0)_ml" } })
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: site.paths.reports + "/volumes.csv"))
        let beforeWide = try Data(contentsOf: URL(fileURLWithPath: site.paths.reports + "/volumes_calf.csv"))

        // The crash window: reports appended, input not yet archived (state running, worker gone).
        // The restart finishes the job again and must not add a row.
        let id = jobs[0]
        try FileManager.default.moveItem(atPath: site.paths.archive + "/" + id, toPath: site.paths.work + "/" + id)
        var record = try #require(store.load(dir: site.paths.work + "/" + id))
        record.state = .running
        record.finishedAt = nil
        try store.save(record)
        let again = try site.serve(["--exit-when-idle"])
        #expect(waitExit(again, 60) == 0)
        #expect(store.jobIDs(in: site.paths.archive).count == 2)
        #expect(try Data(contentsOf: URL(fileURLWithPath: site.paths.reports + "/volumes.csv")) == before)
        #expect(try Data(contentsOf: URL(fileURLWithPath: site.paths.reports + "/volumes_calf.csv")) == beforeWide)
    }

    @Test(.enabled(if: segvolBinary != nil), .timeLimit(.minutes(5)))
    func killNineDuringSegmentationNeverDuplicatesReportRows() throws {
        let site = DaemonSite(extra: ["reports": ["drop_names": "false"]])
        let model = try Self.writeModel(in: site.root)
        site.sections["model"] = ["dir": "\"\(model)\""]
        site.writeConfig()
        let calf = try Self.phantom("calf", dicom: false, in: site.root)
        try FileManager.default.createDirectory(atPath: site.inbox("calf"), withIntermediateDirectories: true)
        for i in 0..<3 { try FileManager.default.copyItem(atPath: calf + "/image.nii.gz", toPath: site.inbox("calf") + "/c\(i).nii.gz") }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5 {
            let serve = try site.serve()
            usleep(useconds_t(Double.random(in: 0.2...2.5, using: &generator) * 1_000_000))
            kill(serve.processIdentifier, SIGKILL)
            serve.waitUntilExit()
        }
        let final = try site.serve(["--exit-when-idle"])
        let status = waitExit(final, 120)
        if status == nil { final.terminate() }
        #expect(status == 0)
        let jobs = site.store.jobIDs(in: site.paths.archive)
        #expect(jobs.count == 3)
        let tidy = try Self.csv(site.paths.reports + "/volumes.csv").dropFirst()
        let perScan = try Self.csv(site.paths.outbox + "/" + jobs[0] + "/volumes.csv").dropFirst().count
        #expect(tidy.count == 3 * perScan, "rows: \(tidy.count), expected \(3 * perScan)")
        #expect(Set(tidy.map { "\($0[0])|\($0[7])|\($0[9])" }).count == tidy.count)
        #expect(Set(tidy.map { $0[0] }) == Set(jobs))
        #expect(tidy.allSatisfy { $0[2] == "" }, "reports.drop_names = false leaves the column empty")
        let wide = try Self.csv(site.paths.reports + "/volumes_calf.csv").dropFirst()
        #expect(wide.count == 3 && Set(wide.map { $0[0] }) == Set(jobs))
    }

    @Test(.enabled(if: segvolBinary != nil), .timeLimit(.minutes(3)))
    func unwritableReportsKeepTheJobWaitingThenFinishItOnce() throws {
        let site = DaemonSite()
        let model = try Self.writeModel(in: site.root)
        site.sections["model"] = ["dir": "\"\(model)\""]
        site.writeConfig()
        let calf = try Self.phantom("calf", dicom: false, in: site.root)
        // A folder where the report file should be: every write of it fails (even as root).
        try FileManager.default.createDirectory(atPath: site.paths.reports + "/volumes.csv", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: site.inbox("calf"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: calf + "/image.nii.gz", toPath: site.inbox("calf") + "/c.nii.gz")
        let serve = try site.serve()
        defer { if serve.isRunning { serve.terminate() } }
        let logPath = try FileManager.default.contentsOfDirectory(atPath: site.root).filter { $0.hasPrefix("serve-") }.map { site.root + "/" + $0 }.first!
        func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
        #expect(waitFor(60) { log().contains("cannot write the reports of a finished job") }, "\(log().suffix(2000))")
        usleep(1_500_000)  // several retries (back-off ≤ 0.5 s here)
        let store = site.store
        let id = try #require(store.jobIDs(in: site.paths.work).first)
        #expect(store.outputsComplete(id) && store.jobIDs(in: site.paths.failed).isEmpty)
        #expect(log().components(separatedBy: "cannot write the reports of a finished job").count - 1 == 1, "logged once")
        try FileManager.default.removeItem(atPath: site.paths.reports + "/volumes.csv")
        #expect(waitFor(30) { store.jobIDs(in: site.paths.archive) == [id] })
        let tidy = try Self.csv(site.paths.reports + "/volumes.csv").dropFirst()
        #expect(tidy.count == (try Self.csv(site.paths.outbox + "/" + id + "/volumes.csv").count - 1))
        #expect(try Self.csv(site.paths.reports + "/volumes_calf.csv").count == 2)
        serve.terminate()
        #expect(waitExit(serve, 20) == 0)
    }

    @Test(.enabled(if: segvolBinary != nil), .timeLimit(.minutes(3)))
    func theAutoInboxTakesTheRegionFromTheHeaderOrRefusesTheScan() throws {
        let site = DaemonSite(extra: ["inbox": ["auto": "true"]])
        let model = try Self.writeModel(in: site.root)
        site.sections["model"] = ["dir": "\"\(model)\""]
        site.writeConfig()
        let thigh = try Self.phantom("thigh", dicom: true, in: site.root)
        try FileManager.default.createDirectory(atPath: site.inbox("auto"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: thigh + "/image", toPath: site.inbox("auto") + "/series")
        try site.dropNIfTI("nameless.nii", region: "auto", shape: [16, 16, 3])
        let serve = try site.serve(["--exit-when-idle"])
        let status = waitExit(serve, 120)
        if status == nil { serve.terminate() }
        #expect(status == 0)
        let store = site.store
        let done = try #require(store.jobIDs(in: site.paths.archive).first)
        let scan = try #require((try Self.json(site.paths.outbox + "/" + done + "/manifest.json")["scans"] as? [[String: Any]])?.first)
        let seg = try #require(scan["segmentation"] as? [String: Any])
        #expect(seg["region"] as? String == "thigh" && seg["regionSource"] as? String == "header")
        #expect(try Self.csv(site.paths.reports + "/volumes_thigh.csv").count == 2)
        // A NIfTI without a description names no region: refused, not guessed.
        let failed = try #require(store.jobIDs(in: site.paths.failed).first)
        let reason = try #require(store.failureReason(failed))
        #expect(reason.code == "region_unknown" && reason.stage == "segmentation", "\(reason)")
    }

    @Test(.enabled(if: segvolBinary != nil), .timeLimit(.minutes(2)))
    func withoutAModelJobsAreConvertedAndTheManifestSaysWhy() throws {
        let site = DaemonSite()
        try site.dropNIfTI("a.nii", region: "calf", shape: [16, 16, 4])
        try site.dropNIfTI("b.nii", region: "thigh", shape: [16, 16, 4])
        let serve = try site.serve(["--exit-when-idle"])
        let status = waitExit(serve, 60)
        if status == nil { serve.terminate() }
        #expect(status == 0)
        let jobs = site.store.jobIDs(in: site.paths.archive)
        #expect(jobs.count == 2)
        for id in jobs {
            let out = site.paths.outbox + "/" + id
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: out)) == ["image.nii.gz", "manifest.json"])
            let manifest = try Self.json(out + "/manifest.json")
            #expect(manifest["model"] == nil)
            let skipped = try #require(((manifest["scans"] as? [[String: Any]])?.first)?["segmentationSkipped"] as? [String: Any])
            #expect(skipped["code"] as? String == "model_not_found")
            #expect((skipped["reason"] as? String)?.contains("/nonexistent/segvol-test-model") == true)
        }
        #expect(!FileManager.default.fileExists(atPath: site.paths.reports + "/volumes.csv"))
        let log = try String(contentsOfFile: try FileManager.default.contentsOfDirectory(atPath: site.root)
            .filter { $0.hasPrefix("serve-") }.map { site.root + "/" + $0 }.first!, encoding: .utf8)
        // One warning for the site, not one per job.
        #expect(log.components(separatedBy: "no usable model").count - 1 == 1, "\(log.suffix(3000))")
    }
}
}
