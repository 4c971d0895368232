import Foundation
import NeuralEngine
import Segmentation
import Testing

/// `segvol segment` end to end with a random-weight tiny model: outputs, region from the DICOM
/// header, and the refusals an operator sees.
@Suite final class SegmentCLITests {
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> CLITests.Output {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.executable)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: ModelDirectory.environmentKey)
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return CLITests.Output(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                               stderr: String(decoding: e, as: UTF8.self))
    }

    let dir: String = {
        let d = NSTemporaryDirectory() + "segvol-segment-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()

    /// Swift Testing makes one instance per test: its folder goes with it.
    deinit { try? FileManager.default.removeItem(atPath: dir) }

    /// plan.json over every calf and thigh class of the shipped catalog's outputs, random weights.
    func writeModel() throws -> String {
        let model = dir + "/model"
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        // The catalog through the executable's own Config/ (same source tree).
        let catalogPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Config/labels.toml").path
        let text = try String(contentsOfFile: catalogPath, encoding: .utf8)
        // id/name pairs in file order: `id = N` then `name = "x"`.
        var outputs: [ModelPlan.OutputClass] = [.init(id: 0, name: "background")]
        var pendingID: Int?
        for line in text.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("id = ") { pendingID = Int(t.dropFirst(5)) }
            if t.hasPrefix("name = "), let id = pendingID {
                outputs.append(.init(id: id, name: String(t.dropFirst(8).dropLast())))
                pendingID = nil
            }
        }
        let thigh = outputs.filter { (1...19).contains($0.id) || (40...59).contains($0.id) }.map(\.id)
        let plan = ModelPlan(architecture: .init(baseWidth: 4, depth: 2), inputSize: [96, 96], outputs: outputs,
                             regions: ["thigh": .init(profile: .init(inPlaneSpacing: 2.0), normalization: .mr, classIDs: thigh)],
                             loss: "xent_plus")
        try JSONEncoder().encode(plan).write(to: URL(fileURLWithPath: model + "/plan.json"))
        try UNet(config: UNetConfig(inChannels: 1, classes: outputs.count, baseWidth: 4, depth: 2), seed: 3)
            .saveCheckpoint(to: model + "/weights.safetensors")
        return model
    }

    @Test func segmentsNIfTIAndDICOMAndRefusesClearly() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try writeModel()
        var r = try Self.run(["phantom", "--region", "thigh", "--seed", "3", "--matrix", "48x48", "--slices", "3", "-o", dir + "/nii"])
        #expect(r.status == 0, "\(r.stderr)")
        r = try Self.run(["phantom", "--region", "thigh", "--seed", "3", "--matrix", "48x48", "--slices", "3", "--dicom", "-o", dir + "/dcm"])
        #expect(r.status == 0, "\(r.stderr)")
        let nifti = dir + "/nii/phantom-thigh-3-v1/image.nii.gz", dicom = dir + "/dcm/phantom-thigh-3-v1/image"

        // NIfTI with --region.
        let out = dir + "/out"
        r = try Self.run(["segment", nifti, "-o", out, "--region", "thigh", "--model", model, "--batch-size", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        for file in ["labels.nii.gz", "volumes.csv", "qc.png", "manifest.json"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file) missing")
        }
        let csv = try String(contentsOfFile: out + "/volumes.csv", encoding: .utf8)
        #expect(csv.hasPrefix("class_id,class_name,group,side,volume_ml,voxels,slices,truncated\r\n"))
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/manifest.json"))) as! [String: Any]
        let m = manifest["model"] as! [String: Any]
        #expect((m["weightsSHA256"] as! String).count == 64 && m["version"] as? String == "model")
        #expect(manifest["region"] as? String == "thigh" && manifest["regionSource"] as? String == "option")
        let stages = (manifest["timings"] as! [[String: Any]]).map { $0["stage"] as! String }
        #expect(stages.contains("inference") && stages.contains("load_model") && stages.contains("write_qc"))
        #expect(((manifest["input"] as! [String: Any])["files"] as! [Any]).count == 1)

        // DICOM folder: region from BodyPartExamined (THIGH).
        r = try Self.run(["segment", dicom, "-o", dir + "/out-dcm", "--model", model])
        #expect(r.status == 0, "\(r.stderr)")
        let dm = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/out-dcm/manifest.json"))) as! [String: Any]
        #expect(dm["regionSource"] as? String == "header" && dm["region"] as? String == "thigh")
        #expect(((dm["input"] as! [String: Any])["files"] as! [Any]).count == 3)

        // NIfTI without --region: the phantom's header description names the thigh.
        r = try Self.run(["segment", nifti, "-o", dir + "/out-nii", "--model", model])
        #expect(r.status == 0, "\(r.stderr)")
        // With the description blanked (NIfTI-1 descrip, bytes 148..<228): usage error naming the option.
        let blank = dir + "/blank.nii"
        r = try Self.run(["convert", nifti, "-o", blank])
        #expect(r.status == 0, "\(r.stderr)")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: blank))
        bytes.replaceSubrange(148..<228, with: Data(repeating: 0, count: 80))
        try bytes.write(to: URL(fileURLWithPath: blank))
        r = try Self.run(["segment", blank, "-o", dir + "/x", "--model", model])
        #expect(r.status == 64 && r.stderr.contains("[region_unknown]") && r.stderr.contains("--region"), "\(r.stderr)")

        // A scan whose whole profile slice needs a larger window than allowed: refused, naming it.
        r = try Self.run(["segment", nifti, "-o", dir + "/x", "--model", model, "--region", "thigh", "--max-window-pixels", "1000"])
        #expect(r.status == 65 && r.stderr.contains("[window_too_large]") && r.stderr.contains("image.nii.gz")
                && r.stderr.contains("over the limit of 1000"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/x/labels.nii.gz"))

        // Spacing in metres written as millimetres (× 1e6, pixdim and sform): refused before any
        // allocation, naming the file (not a placeholder such as "scan geometry").
        let huge = dir + "/huge.nii"
        r = try Self.run(["convert", nifti, "-o", huge])
        #expect(r.status == 0, "\(r.stderr)")
        var hugeBytes = try Data(contentsOf: URL(fileURLWithPath: huge))
        func scale(_ offset: Int) {
            var v = hugeBytes.subdata(in: offset..<(offset + 4)).withUnsafeBytes { $0.loadUnaligned(as: Float.self) } * 1e6
            hugeBytes.replaceSubrange(offset..<(offset + 4), with: Data(bytes: &v, count: 4))
        }
        for offset in [80, 84, 88] { scale(offset) }                                  // pixdim[1...3]
        for row in [280, 296, 312] { for column in 0..<3 { scale(row + 4 * column) } }  // srow_x/y/z
        try hugeBytes.write(to: URL(fileURLWithPath: huge))
        r = try Self.run(["segment", huge, "-o", dir + "/x", "--model", model, "--region", "thigh"])
        #expect(r.status == 65 && r.stderr.contains("[profile_too_large]") && r.stderr.contains("huge.nii")
                && !r.stderr.contains("scan geometry"), "\(r.stderr)")

        // A region the model does not cover.
        r = try Self.run(["segment", nifti, "-o", dir + "/x", "--model", model, "--region", "calf"])
        #expect(r.status == 65 && r.stderr.contains("[region_not_in_model]"))

        // Missing model folders, explicit or from the environment: configuration error naming it.
        r = try Self.run(["segment", nifti, "-o", dir + "/x", "--region", "thigh", "--model", dir + "/no-model"])
        #expect(r.status == 78 && r.stderr.contains("[model_not_found]") && r.stderr.contains("no-model"))
        r = try Self.run(["segment", nifti, "-o", dir + "/x", "--region", "thigh"], environment: ["SEGVOL_MODEL_DIR": dir + "/env-model"])
        #expect(r.status == 78 && r.stderr.contains("env-model"))
    }

    @Test func theDefaultModelIsLookedForInTheSourceTree() throws {
        let source = ModelDirectory.sourceTreeDirectory
        #expect(source.hasSuffix("/Models/default"))
        if FileManager.default.fileExists(atPath: source + "/plan.json") {
            #expect(try ModelDirectory.locate(environment: [:], systemDirectories: []) == source)
        } else {
            do {
                _ = try ModelDirectory.locate(environment: [:], systemDirectories: ["/nonexistent/a"])
                Issue.record("a missing default model was accepted")
            } catch {
                #expect(error.code == .modelNotFound && error.reason.contains(source) && error.reason.contains("/nonexistent/a"))
            }
        }
        #expect(try ModelDirectory.locate(explicit: "/x", environment: ["SEGVOL_MODEL_DIR": "/y"]) == "/x")
        #expect(try ModelDirectory.locate(environment: ["SEGVOL_MODEL_DIR": "/y"]) == "/y")
    }
}
