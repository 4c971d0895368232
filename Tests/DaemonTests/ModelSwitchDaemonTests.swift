import Foundation
import NeuralEngine
import Testing
@testable import Spool

/// `segvol serve` following the model registry: a promotion between two scans takes effect for
/// the next job without a restart, is logged, named in STATUS=, in the manifest and in the CSV.
extension DaemonSuite {
@Suite struct ModelSwitchDaemonTests {
    /// A registered version's id from `segvol models register` output.
    static func register(_ folder: String, config: String) throws -> String {
        let r = try runSegvol(["models", "register", folder, "--config", config])
        #expect(r.code == 0, "\(r.err)")
        let line = try #require(r.out.split(separator: "\n").first { $0.hasPrefix("registered ") })
        return String(line.split(separator: " ")[1].dropLast(1))   // "registered <id>;"
    }

    @Test(.enabled(if: segvolBinary != nil), .timeLimit(.minutes(5)))
    func promotionBetweenScansAppliesToTheNextJob() throws {
        let site = DaemonSite()
        site.sections["model"] = ["dir": "\"\""]   // automatic: the registry's current first
        site.sections["retrain"] = ["models_dir": "\"models\""]
        site.writeConfig()
        let tiny = try SegmentationDaemonTests.writeModel(in: site.root)
        let other = site.root + "/tiny-model-2"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: tiny + "/plan.json", toPath: other + "/plan.json")
        try UNet(config: UNetConfig(inChannels: 1, classes: try UNet.classCount(planAt: tiny), baseWidth: 4, depth: 2), seed: 9)
            .saveCheckpoint(to: other + "/weights.safetensors")
        let a = try Self.register(tiny, config: site.configPath)
        let b = try Self.register(other, config: site.configPath)
        #expect(a != b)
        #expect(try runSegvol(["models", "promote", a, "--config", site.configPath]).code == 0)

        let calf = try SegmentationDaemonTests.phantom("calf", dicom: false, in: site.root)
        let thigh = try SegmentationDaemonTests.phantom("thigh", dicom: false, in: site.root)
        try FileManager.default.createDirectory(atPath: site.inbox("calf"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: site.inbox("thigh"), withIntermediateDirectories: true)

        let listener = python3 != nil && FileManager.default.fileExists(atPath: toolsDir + "/notify_listener.py")
            ? try NotifyListener(directory: site.root, timeout: 240) : nil
        let serve = try site.serve(environment: ["SEGVOL_MODEL_DIR": ""].merging(listener.map { ["NOTIFY_SOCKET": $0.socket] } ?? [:]) { $1 })
        defer { if serve.isRunning { serve.terminate() } }

        let store = site.store
        try FileManager.default.copyItem(atPath: calf + "/image.nii.gz", toPath: site.inbox("calf") + "/first.nii.gz")
        #expect(waitFor(120) { store.jobIDs(in: site.paths.archive).count == 1 })
        let first = try #require(store.jobIDs(in: site.paths.archive).first)

        // The switch, between jobs, by the admin command (no restart, no reload).
        let promoted = try runSegvol(["models", "promote", b, "--config", site.configPath])
        #expect(promoted.code == 0 && promoted.out.contains("current: \(b) (was \(a))"), "\(promoted.err)")
        try FileManager.default.copyItem(atPath: thigh + "/image.nii.gz", toPath: site.inbox("thigh") + "/second.nii.gz")
        #expect(waitFor(120) { store.jobIDs(in: site.paths.archive).count == 2 })
        let second = try #require(store.jobIDs(in: site.paths.archive).first { $0 != first })
        serve.terminate()
        #expect(waitExit(serve, 60) == 0)

        for (job, version) in [(first, a), (second, b)] {
            let manifest = try SegmentationDaemonTests.json(site.paths.outbox + "/" + job + "/manifest.json")
            let model = try #require(manifest["model"] as? [String: Any])
            #expect(model["version"] as? String == version, "\(job)")
            #expect((model["path"] as? String)?.hasSuffix("/models/" + version) == true, "resolved, not models/current: \(model["path"] ?? "")")
            let rows = try SegmentationDaemonTests.csv(site.paths.reports + "/volumes.csv").dropFirst().filter { $0[0] == job }
            #expect(!rows.isEmpty && rows.allSatisfy { $0[6] == version }, "\(job)")
        }
        let log = try String(contentsOfFile: try FileManager.default.contentsOfDirectory(atPath: site.root)
            .filter { $0.hasPrefix("serve-") }.map { site.root + "/" + $0 }.first!, encoding: .utf8)
        let loaded = log.split(separator: "\n").filter { $0.contains("model loaded") && $0.contains("event=model.loaded") }
        #expect(loaded.count == 2 && loaded[0].contains("model=\(a)") && loaded[1].contains("model=\(b)"), "\(loaded)")
        if let listener {
            let statuses = listener.datagrams().flatMap(\.fields).filter { $0.hasPrefix("STATUS=") }
            #expect(statuses.contains { $0.contains("model \(a)") } && statuses.contains { $0.contains("model \(b)") }, "\(statuses.suffix(5))")
        }
    }
}
}

extension UNet {
    /// The number of outputs of a plan.json (for a second set of weights on the same plan).
    static func classCount(planAt folder: String) throws -> Int {
        let plan = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/plan.json"))) as! [String: Any]
        return (plan["outputs"] as! [Any]).count
    }
}
