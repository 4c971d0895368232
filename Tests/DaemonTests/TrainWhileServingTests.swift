import Foundation
import Testing
import TestSupport
@testable import Spool

/// Issue 7: `segvol serve` keeps processing scans while a real `segvol train --config` site run
/// fine-tunes the current model, and the gate's decision takes effect between jobs: the job that
/// finished during training keeps the version it was made with, the next one names `models/current`.
extension DaemonSuite {
@Suite struct TrainWhileServingTests {
    /// A thigh model of three outputs (random weights), the shape SiteTrainCLITests trains.
    static func writeSeedModel(in dir: String) throws -> String { try TinyThighModel.writeModel(to: dir + "/seed-model") }

    /// The model version a finished job's manifest names.
    static func version(of job: String, site: DaemonSite) throws -> String? {
        let manifest = try SegmentationDaemonTests.json(site.paths.outbox + "/" + job + "/manifest.json")
        return (manifest["model"] as? [String: Any])?["version"] as? String
    }

    @Test(.enabled(if: segvolBinary != nil), .timeLimit(.minutes(5)))
    func scansAreProcessedWhileTrainingAndTheSwitchHappensBetweenJobs() throws {
        let site = DaemonSite()
        let siteRoot = site.root + "/site"
        site.sections["model"] = ["dir": "\"\""]   // automatic: the registry's current, for serve and train
        // Training is bounded by wall time (30 s: room for the first job on a loaded CI machine), not by steps, and validates only at its end (no
        // early stop): it is certainly still running while the first small job is processed.
        // Generous gate tolerances make the gate promote (the only way left to reject is a volume
        // error growing by over 100 points; training lowers it, e.g. 2533 % -> 720 %).
        site.sections["retrain"] = [
            "models_dir": "\"models\"", "steps": "100000", "max_minutes": "0.5", "validate_every": "1000000",
            "batch": "2", "validation_fraction": "0.0", "phantom_data": "\"\(site.root)/phantoms\"",
            "gate_mean_dice_tolerance": "1", "gate_class_dice_tolerance": "1", "gate_volume_error_tolerance": "100",
        ]
        site.writeConfig()
        let base = try ModelSwitchDaemonTests.register(try Self.writeSeedModel(in: site.root), config: site.configPath)
        #expect(try runSegvol(["models", "promote", base, "--config", site.configPath]).code == 0)

        // One annotated case in annotations/thigh/, one fully labelled phantom guard subject.
        let g = try runSegvol(["phantom", "--region", "thigh", "--seed", "3", "--matrix", "48x48", "--slices", "3", "-o", site.root + "/gen"])
        #expect(g.code == 0, "\(g.err)")
        try FileManager.default.createDirectory(atPath: siteRoot + "/annotations/thigh", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: site.root + "/gen/phantom-thigh-3-v1", toPath: siteRoot + "/annotations/thigh/case-a")
        let v = try runSegvol(["phantom", "--region", "thigh", "--seed", "5", "--matrix", "48x48", "--slices", "3", "-o", site.root + "/phantoms"])
        #expect(v.code == 0, "\(v.err)")
        try Data(#"{"format":"segvol-split","version":1,"validationFraction":0.5,"subjects":{"phantom-thigh-5":"validation"}}"#.utf8)
            .write(to: URL(fileURLWithPath: site.root + "/phantoms/split.json"))
        let scan = try SegmentationDaemonTests.phantom("thigh", dicom: false, in: site.root) + "/image.nii.gz"
        try FileManager.default.createDirectory(atPath: site.inbox("thigh"), withIntermediateDirectories: true)

        let serve = try site.serve(environment: ["SEGVOL_MODEL_DIR": ""])
        defer { if serve.isRunning { serve.terminate(); _ = waitExit(serve, 30) } }
        let trainLog = site.root + "/train.log"
        FileManager.default.createFile(atPath: trainLog, contents: nil)
        let train = Process()
        train.executableURL = URL(fileURLWithPath: segvolBinary!)
        train.arguments = ["train", "--config", site.configPath, "--threads", "1"]
        var env = ProcessInfo.processInfo.environment
        env["SEGVOL_MODEL_DIR"] = nil
        train.environment = env
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: trainLog))
        train.standardOutput = handle
        train.standardError = handle
        try train.run()
        defer { if train.isRunning { kill(train.processIdentifier, SIGKILL); train.waitUntilExit() } }
        func logText() -> String { String(decoding: FileManager.default.contents(atPath: trainLog) ?? Data(), as: UTF8.self) }
        func results() -> [String] {
            let runs = siteRoot + "/state/retrain"
            return ((try? FileManager.default.contentsOfDirectory(atPath: runs)) ?? [])
                .filter { FileManager.default.fileExists(atPath: runs + "/" + $0 + "/result.json") }
        }

        // The first scan goes in once training has taken the annotation in.
        #expect(waitFor(60) { logText().contains("annotation accepted") || !train.isRunning }, "\(logText())")
        try FileManager.default.copyItem(atPath: scan, toPath: site.inbox("thigh") + "/first.nii.gz")
        let store = site.store
        #expect(waitFor(60) { store.jobIDs(in: site.paths.archive).count == 1 })
        // The proof that both ran at once: training has neither exited nor decided yet.
        #expect(train.isRunning && results().isEmpty, "training ended before the first job did: \(logText())")
        let first = try #require(store.jobIDs(in: site.paths.archive).first)
        #expect(try Self.version(of: first, site: site) == base)
        let firstManifest = try Data(contentsOf: URL(fileURLWithPath: site.paths.outbox + "/" + first + "/manifest.json"))

        #expect(waitExit(train, 120) == 0, "\(logText())")
        try handle.close()
        let log = logText()
        let promoted = log.contains("model promoted"), rejected = log.contains("model rejected")
        #expect(promoted && !rejected, "the gate promotes the candidate: \(log)")
        #expect(results().count == 1)
        let current = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: siteRoot + "/models/current")).lastPathComponent
        // The promotion moved models/current to the candidate's version.
        #expect(current != base && log.contains("model=\(current) previous_model=\(base)"), "current \(current), base \(base): \(log)")

        try FileManager.default.copyItem(atPath: scan, toPath: site.inbox("thigh") + "/second.nii.gz")
        #expect(waitFor(60) { store.jobIDs(in: site.paths.archive).count == 2 })
        let second = try #require(store.jobIDs(in: site.paths.archive).first { $0 != first })
        serve.terminate()
        #expect(waitExit(serve, 60) == 0)

        #expect(try Self.version(of: second, site: site) == current)
        #expect(try Data(contentsOf: URL(fileURLWithPath: site.paths.outbox + "/" + first + "/manifest.json")) == firstManifest)
        let rows = try SegmentationDaemonTests.csv(site.paths.reports + "/volumes.csv").dropFirst()
        for (job, version) in [(first, base), (second, current)] {
            let own = rows.filter { $0[0] == job }
            #expect(!own.isEmpty && own.allSatisfy { $0[6] == version }, "\(job): \(own)")
        }
    }
}
}
