import Anatomy
import Foundation
import ImagingCore
import NeuralEngine
import Testing
@testable import Segmentation

@Suite struct ModelFolderTests {
    /// A model folder with a random-weight tiny U-Net (width 4, depth 2) over the union catalog.
    static func writeModel(inputSize: [Int] = [64, 64], baseWidth: Int = 4, weightsWidth: Int? = nil) throws -> (String, ModelPlan) {
        let dir = temporaryFolder("model")
        let plan = unionPlan(inputSize: inputSize, baseWidth: baseWidth, depth: 2)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(plan).write(to: URL(fileURLWithPath: dir + "/plan.json"))
        let net = UNet(config: UNetConfig(inChannels: 1, classes: plan.outputs.count, baseWidth: weightsWidth ?? baseWidth, depth: 2), seed: 7)
        try net.saveCheckpoint(to: dir + "/weights.safetensors")
        return (dir, plan)
    }

    @Test func aRandomWeightModelLoadsAndRunsEndToEnd() throws {
        let (dir, plan) = try Self.writeModel()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let folder = try ModelFolder.open(dir, catalog: testCatalog)
        #expect(folder.plan == plan)
        #expect(folder.version == (dir as NSString).lastPathComponent)
        let segmenter = try Segmenter(model: folder, catalog: testCatalog, settings: SegmentationSettings(batchSize: 2), threadCount: 1)
        let phantom = try smallPhantom(.calf, seed: 2, matrix: [40, 40], slices: 3)
        let result = try segmenter.segment(phantom.image, region: .calf)
        #expect(result.labels.grid == phantom.image.grid)
        #expect(result.labels.data.count == phantom.image.grid.voxelCount)
        let allowed = Set([0] + testCatalog.classes(in: .calf).map { Int32($0.id) })
        #expect(Set(result.labels.data).isSubset(of: allowed))
        #expect(result.timings.allSatisfy { $0.seconds >= 0 })
    }

    @Test func metricsVersionNamesTheModel() throws {
        let (dir, _) = try Self.writeModel()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(#"{"version": "2026-11-23-a"}"#.utf8).write(to: URL(fileURLWithPath: dir + "/metrics.json"))
        #expect(try ModelFolder.open(dir, catalog: testCatalog).version == "2026-11-23-a")
    }

    static func code(_ body: () throws -> Void) -> (ImagingError.Code?, String) {
        do { try body() } catch let e as ImagingError { return (e.code, e.reason + " " + e.remedy) } catch { return (nil, "\(error)") }
        return (nil, "accepted")
    }

    @Test func badModelFoldersAreRefusedClearly() throws {
        // No folder.
        var (code, text) = Self.code { _ = try ModelFolder.open("/nonexistent/segvol-model", catalog: testCatalog) }
        #expect(code == .modelNotFound && text.contains("does not exist"))

        // No plan.json.
        let empty = temporaryFolder("empty-model")
        defer { try? FileManager.default.removeItem(atPath: empty) }
        (code, text) = Self.code { _ = try ModelFolder.open(empty, catalog: testCatalog) }
        #expect(code == .modelNotFound && text.contains("plan.json"))

        // plan.json that is not JSON.
        try Data("{ nope".utf8).write(to: URL(fileURLWithPath: empty + "/plan.json"))
        (code, text) = Self.code { _ = try ModelFolder.open(empty, catalog: testCatalog) }
        #expect(code == .planInvalid && text.contains("not JSON"))

        // A plan whose output names disagree with the catalog.
        let (dir, plan) = try Self.writeModel()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var renamed = plan
        renamed.outputs[1].name = "quadriceps"
        try JSONEncoder().encode(renamed).write(to: URL(fileURLWithPath: empty + "/plan.json"))
        (code, text) = Self.code { _ = try ModelFolder.open(empty, catalog: testCatalog) }
        #expect(code == .planInvalid && text.contains("quadriceps"))

        // A valid plan without weights.
        try JSONEncoder().encode(plan).write(to: URL(fileURLWithPath: empty + "/plan.json"))
        (code, text) = Self.code { _ = try ModelFolder.open(empty, catalog: testCatalog) }
        #expect(code == .modelNotFound && text.contains("weights.safetensors"))

        // Weights of another width: every mismatching tensor is listed.
        let (other, _) = try Self.writeModel(weightsWidth: 8)
        defer { try? FileManager.default.removeItem(atPath: other) }
        let folder = try ModelFolder.open(other, catalog: testCatalog)
        (code, text) = Self.code { _ = try folder.loadNetwork() }
        #expect(code == .modelInvalid && text.contains("shape: enc.0") && text.contains("matching pair"))

        // Weights that are not safetensors.
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: empty + "/weights.safetensors"))
        (code, _) = Self.code { _ = try ModelFolder.open(empty, catalog: testCatalog).loadNetwork() }
        #expect(code == .modelInvalid)

        // A plan with two input channels.
        var twoChannel = plan
        twoChannel.architecture.inChannels = 2
        try JSONEncoder().encode(twoChannel).write(to: URL(fileURLWithPath: empty + "/plan.json"))
        (code, text) = Self.code { _ = try ModelFolder.open(empty, catalog: testCatalog) }
        #expect(code == .modelInvalid && text.contains("input channels"))
    }
}
