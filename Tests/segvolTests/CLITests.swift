import Foundation
import Testing

/// The `segvol` executable as an operator runs it: exit statuses, messages, outputs.
@Suite final class CLITests {
    /// The built `segvol` next to the test bundle (swift build puts products in one folder).
    static let executable: String = {
        let bundle = Bundle.allBundles.first { $0.bundlePath.hasSuffix(".xctest") }?.bundleURL
            ?? URL(fileURLWithPath: CommandLine.arguments[0])
        return bundle.deletingLastPathComponent().appendingPathComponent("segvol").path
    }()

    static let corpus: String = {
        if let env = ProcessInfo.processInfo.environment["SEGVOL_CORPUS"], !env.isEmpty { return env }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/corpus").path
    }()

    static var corpusAvailable: Bool {
        let ok = FileManager.default.fileExists(atPath: corpus + "/dicom")
        if !ok { print("segvolTests: corpus not found at \(corpus); real-file CLI tests skipped") }
        return ok
    }

    struct Output { var status: Int32; var stdout: String; var stderr: String }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Output {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Output(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                      stderr: String(decoding: e, as: UTF8.self))
    }

    let dir: String = {
        let d = NSTemporaryDirectory() + "segvol-cli-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()

    /// Swift Testing makes one instance per test: its folder goes with it.
    deinit { try? FileManager.default.removeItem(atPath: dir) }

    @Test func missingInputExitsNoInput() throws {
        let r = try Self.run(["info", dir + "/nothing-here.nii.gz"])
        #expect(r.status == 66)
        #expect(r.stderr.contains("[not_found]"))
    }

    @Test func truncatedNIfTIIsRefusedWithItsReason() throws {
        let path = dir + "/cut.nii"
        var head = Data(repeating: 0, count: 100)
        head[0] = 0x5C; head[1] = 0x01  // sizeof_hdr = 348 (little-endian), then the file ends
        try head.write(to: URL(fileURLWithPath: path))
        let r = try Self.run(["info", path])
        #expect(r.status == 65)
        #expect(r.stdout.contains("[truncated]"))
    }

    @Test func unknownProfileIsAUsageError() throws {
        let r = try Self.run(["convert", dir, "-o", dir + "/x.nii.gz", "--profile", "elbow"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("unknown profile 'elbow'"))
    }

    @Test(.enabled(if: corpusAvailable))
    func gantryTiltIsRefusedWithTheAngle() throws {
        let r = try Self.run(["convert", Self.corpus + "/dicom/F07_ct_gantry_tilt", "-o", dir + "/tilt.nii.gz"])
        #expect(r.status == 65)
        #expect(r.stderr.contains("[gantry_tilt]"))
        #expect(r.stderr.contains("14.0°"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/tilt.nii.gz"))
    }

    @Test(.enabled(if: corpusAvailable))
    func twoSeriesNeedAFolderOrAChoice() throws {
        let input = Self.corpus + "/dicom/F10_mr_two_orientations_one_folder"
        let single = try Self.run(["convert", input, "-o", dir + "/one.nii.gz"])
        #expect(single.status == 64)
        #expect(single.stderr.contains("--series"))

        let folder = try Self.run(["convert", input, "-o", dir + "/out"])
        #expect(folder.status == 0)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/out").sorted()
        #expect(files == ["series202.json", "series202.nii.gz", "series501.json", "series501.nii.gz"])

        let chosen = try Self.run(["convert", input, "-o", dir + "/501.nii.gz", "--series", "501"])
        #expect(chosen.status == 0)
        let info = try Self.run(["info", dir + "/501.nii.gz"])
        #expect(info.stdout.contains("matrix      288 × 288 × 2"))
    }

    @Test(.enabled(if: corpusAvailable))
    func profileResamplesInPlaneAndRecordsTheNativeGrid() throws {
        let out = dir + "/calf.nii.gz"
        let r = try Self.run(["convert", Self.corpus + "/dicom/F01_ct_abdomen_20slice_j2k_overlapping", "-o", out,
                              "--profile", "calf"])
        #expect(r.status == 0)
        let info = try Self.run(["info", out])
        #expect(info.stdout.contains("voxel (mm)  0.54 × 0.54 × 2"))
        #expect(info.stdout.contains("orientation RAS"))
        let sidecar = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/calf.json"))) as? [String: Any]
        #expect(sidecar?["profile"] as? String == "calf")
        #expect(sidecar?["nativeGrid"] != nil)
        #expect(sidecar?["modality"] as? String == "CT")
    }
}
