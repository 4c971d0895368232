import Anatomy
import Foundation
import ImagingCore
import NIfTIIO
import Phantoms
import Resampling
import Segmentation
import Testing
@testable import Training

/// `Evaluation`: the cases of one side of a frozen split, and the ground truth's resolution
/// ceiling through a plan's profiles.
@Suite final class EvaluationTests {
    let dir = Fixtures.temporaryDirectory("evaluation")
    deinit { Fixtures.remove(dir) }

    /// Two fully labelled thigh phantoms on an axis-aligned 5 mm grid (48 × 48 × 3), the first
    /// subject validating, the second training; returns the cases.
    func writeCases() throws -> [TrainingCase] {
        let dataset = PhantomDataset.named("thigh-full")!
        for seed: UInt64 in [1, 2] {
            let p = try PhantomGenerator.generate(PhantomRequest(region: .thigh, seed: seed, matrix: [48, 48], slices: 3, spacing: 5,
                                                                 oblique: false, rays: 64), catalog: Fixtures.catalog)
            let folder = "\(dir)/\(p.request.subject)-v1"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try NIfTIWriter.writeImage(p.image, to: folder + "/image.nii.gz")
            let (labels, sidecar) = dataset.apply(to: p.labels, catalog: Fixtures.catalog, subject: p.request.subject, visit: 1)
            try NIfTIWriter.writeLabels(labels, table: nil, to: folder + "/labels.nii.gz")
            try Data(sidecar.jsonBytes()).write(to: URL(fileURLWithPath: folder + "/case.json"))
            try JSONEncoder().encode(p.truth).write(to: URL(fileURLWithPath: folder + "/truth.json"))
        }
        try DataSplit(validationFraction: 0.5, subjects: ["phantom-thigh-1": .validation, "phantom-thigh-2": .train])
            .write(path: dir + "/split.json")
        return try TrainingCase.discover(in: dir, catalog: Fixtures.catalog)
    }

    func plan(spacing: Double, size: Int) -> ModelPlan {
        var p = Fixtures.thighPlan(size: size)
        p.regions["thigh"]!.profile = ResampleProfile(inPlaneSpacing: spacing)
        return p
    }

    @Test func sidesFollowTheSplitWhichIsNotWritten() throws {
        let cases = try writeCases()
        let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/split.json"))
        let p = plan(spacing: 5, size: 48)
        let v = try Evaluation.loadCases(cases, plan: p, catalog: Fixtures.catalog, splitPath: dir + "/split.json", cacheDirectory: nil, side: .validation)
        let t = try Evaluation.loadCases(cases, plan: p, catalog: Fixtures.catalog, splitPath: dir + "/split.json", cacheDirectory: nil, side: .train)
        let a = try Evaluation.loadCases(cases, plan: p, catalog: Fixtures.catalog, splitPath: dir + "/split.json", cacheDirectory: nil, side: .all)
        #expect(v.cases.map(\.prepared.subject) == ["phantom-thigh-1"] && t.cases.map(\.prepared.subject) == ["phantom-thigh-2"])
        #expect(a.cases.count == 2 && a.skipped.isEmpty && v.cases[0].truth != nil)
        // A subject the split does not know is left out (and the split stays as it was).
        try DataSplit(validationFraction: 0.5, subjects: ["phantom-thigh-1": .validation]).write(path: dir + "/split2.json")
        let partial = try Evaluation.loadCases(cases, plan: p, catalog: Fixtures.catalog, splitPath: dir + "/split2.json", cacheDirectory: nil, side: .all)
        #expect(partial.cases.count == 1 && partial.skipped.count == 1 && partial.skipped[0].contains("phantom-thigh-2"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/split.json")) == before)
        #expect(throws: ImagingError.self) {
            try Evaluation.loadCases(cases, plan: p, catalog: Fixtures.catalog, splitPath: dir + "/none.json", cacheDirectory: nil, side: .all)
        }
    }

    /// Profile = native grid and a window covering it: the ground truth comes back unchanged by
    /// either return path (Dice 1 for every class, volume errors those of the native voxels).
    @Test func identityProfileCeilingIsExact() throws {
        let cases = try writeCases()
        let p = plan(spacing: 5, size: 48)
        let v = try Evaluation.loadCases(cases, plan: p, catalog: Fixtures.catalog, splitPath: dir + "/split.json", cacheDirectory: nil, side: .all).cases
        for back in GroundTruthReturn.allCases {
            for c in v { #expect(Evaluation.groundTruthNative(c.prepared, plan: p, back: back).data == c.nativeTargets.data, "\(back)") }
            let r = Evaluation.evaluateGroundTruth(cases: v, plan: p, back: back)
            #expect(r.classDice.count >= 10 && r.classDice.values.allSatisfy { $0 == 1 }, "\(back)")
            let native = Validator.summarize(v.map { Validator.score(predicted: $0.nativeTargets, case: $0, plan: p) })
            #expect(r.classVolumeErrorPercent == native.classVolumeErrorPercent)
        }
    }

    /// A profile twice as coarse loses detail: Dice below 1 on average, thin fascia worse than
    /// the large vastus lateralis. An input smaller than the field of view loses nothing: the
    /// ceiling scores whole profile slices (the covering window), as inference sees them.
    @Test func coarserProfileLowersTheCeilingASmallerInputDoesNot() throws {
        let cases = try writeCases()
        let coarse = plan(spacing: 10, size: 24)
        let v = try Evaluation.loadCases(cases, plan: coarse, catalog: Fixtures.catalog, splitPath: dir + "/split.json", cacheDirectory: nil, side: .all).cases
        for back in GroundTruthReturn.allCases {
            let r = Evaluation.evaluateGroundTruth(cases: v, plan: coarse, back: back)
            #expect(r.meanDice < 0.95 && r.meanDice > 0.3, "\(back): \(r.meanDice)")
            #expect(r.classDice["fascia"]! < r.classDice["vastus_lateralis"]!, "\(back)")
            #expect(r.classDice.values.allSatisfy { $0 <= 1 })
        }
        // A 16-pixel input (80 mm) on a ~48-pixel slice: the window grows to cover it, so the
        // fat ring outside the middle 80 mm is scored as it is (a centre crop made it background).
        let small = plan(spacing: 5, size: 16)
        let w = try Evaluation.loadCases(cases, plan: small, catalog: Fixtures.catalog, splitPath: dir + "/split.json", cacheDirectory: nil, side: .all).cases
        for c in w {
            #expect(c.prepared.window.width > 16 && c.prepared.window.covers(sliceWidth: c.prepared.transform.targetGrid.shape[0],
                                                                             sliceHeight: c.prepared.transform.targetGrid.shape[1]))
            #expect(Evaluation.groundTruthNative(c.prepared, plan: small, back: .nearest).data == c.nativeTargets.data)
        }
        let r = Evaluation.evaluateGroundTruth(cases: w, plan: small, back: .nearest)
        #expect(r.classDice["subcutaneous_fat"] == 1 && r.classDice.values.allSatisfy { $0 == 1 })
    }
}
