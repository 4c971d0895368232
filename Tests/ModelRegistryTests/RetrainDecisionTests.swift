import Anatomy
import Foundation
import ImagingCore
import NIfTIIO
import Phantoms
import Segmentation
import Testing
import TestSupport
@testable import ModelRegistry
@testable import Training

/// The whole decision on real models: the default model against a damaged copy and a harmless
/// copy, both scored by Training's Validator on small calf phantoms.
@Suite struct RetrainDecisionTests {
    /// Two calf phantoms (80², 3 slices) as validation cases for `plan`.
    static func validationCases(plan: ModelPlan, dir: String) throws -> [ValidationCase] {
        var cases: [ValidationCase] = []
        for seed in [UInt64(11), 12] {
            let phantom = try PhantomGenerator.generate(PhantomRequest(region: .calf, seed: seed, matrix: [80, 80], slices: 3, rays: 64),
                                                        catalog: Support.catalog)
            let folder = "\(dir)/cases/\(phantom.request.subject)-v1"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try NIfTIWriter.writeImage(phantom.image, to: folder + "/image.nii.gz")
            let (labels, sidecar) = PhantomDataset.named("calf-full")!.apply(to: phantom.labels, catalog: Support.catalog,
                                                                             subject: phantom.request.subject, visit: 1)
            try NIfTIWriter.writeLabels(labels, table: nil, to: folder + "/labels.nii.gz")
            try Data(sidecar.jsonBytes()).write(to: URL(fileURLWithPath: folder + "/case.json"))
            try JSONEncoder().encode(phantom.truth).write(to: URL(fileURLWithPath: folder + "/truth.json"))
            let c = try TrainingCase.load(folder: folder, catalog: Support.catalog)
            let prepared = try CaseLoader.prepareFresh(c, plan: plan, catalog: Support.catalog,
                                                       window: .covering(maxPixels: WindowPolicy.defaultMaxPixels))
            let native = try CaseLoader.readNativeTargets(c, plan: plan, catalog: Support.catalog, imageGrid: prepared.transform.sourceGrid)
            cases.append(ValidationCase(prepared: prepared, nativeTargets: native, truth: c.truthPath.flatMap(CaseTruth.read)))
        }
        return cases
    }

    static func evaluate(_ folder: String, cases: [ValidationCase]) throws -> ValidationResult {
        let model = try ModelFolder.open(folder, catalog: Support.catalog)
        return Validator.evaluate(net: try model.loadNetwork(threadCount: 1), cases: cases, plan: model.plan, batch: 3)
    }

    @Test(.timeLimit(.minutes(3)))
    func damagedCandidateIsRejectedAndCurrentStaysAHarmlessOneIsPromoted() throws {
        let dir = Support.temporaryDirectory("decision")
        defer { Support.cleanUp(dir) }
        let registry = ModelRegistry(directory: dir + "/models")
        let plan = try ModelFolder.open(Support.defaultModel, catalog: Support.catalog).plan
        let cases = try Self.validationCases(plan: plan, dir: dir)
        let current = try Self.evaluate(Support.defaultModel, cases: cases)
        #expect(current.meanDice > 0.3, "the default model should segment calf phantoms: \(current.classDice)")

        let damaged = try Support.variant(in: dir, name: "damaged", damage: Support.rotateClasses)
        let damagedResult = try Self.evaluate(damaged, cases: cases)
        #expect(damagedResult.meanDice < current.meanDice - 0.1, "\(damagedResult.meanDice) vs \(current.meanDice)")

        let log = LogRecorder()
        let rejected = try RetrainDecision.apply(candidateFolder: damaged, currentResult: current, candidateResult: damagedResult,
                                                 registry: registry, tolerances: GateTolerances(), logger: log.logger,
                                                 baseModel: Support.defaultModel, catalog: Support.catalog)
        #expect(!rejected.accepted)
        #expect(rejected.reasons.contains { $0.hasPrefix("mean Dice fell") } && rejected.reasons.contains { $0.hasPrefix("class ") })
        let rejectedID = try #require(rejected.candidateVersion)
        #expect(rejected.currentVersion == "default" && registry.currentVersion() == "default")
        #expect(try registry.provenance(of: rejectedID).gate == .rejected)
        #expect(registry.decision(of: rejectedID) == rejected)   // decision.json in the version folder, every number
        let event = try #require(log.records.first { $0.message == "model rejected" })
        #expect(event.level == .warning && event.metadata["event"] == "model.rejected" && event.metadata["model"] == "\(rejectedID)")
        // The current model still opens and loads.
        _ = try ModelFolder.open(registry.currentPath, catalog: Support.catalog).loadNetwork(threadCount: 1)

        // A harmless change scores the same: accepted, promoted, logged; rollback restores default.
        let fine = try Support.variant(in: dir, name: "fine", damage: Support.nudge)
        let fineResult = try Self.evaluate(fine, cases: cases)
        let accepted = try RetrainDecision.apply(candidateFolder: fine, currentResult: current, candidateResult: fineResult,
                                                 registry: registry, tolerances: GateTolerances(), logger: log.logger, catalog: Support.catalog)
        #expect(accepted.accepted, "\(accepted.reasons)")
        let acceptedID = try #require(accepted.candidateVersion)
        #expect(registry.currentVersion() == acceptedID && acceptedID != rejectedID)
        #expect(try registry.provenance(of: acceptedID).parentVersion == "default")
        #expect(log.records.contains { $0.message == "model promoted" && $0.level == .notice && $0.metadata["event"] == "model.promoted" })
        #expect(try registry.rollback().to == "default")
    }
}
