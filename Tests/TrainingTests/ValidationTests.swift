import Foundation
import Anatomy
import ImagingCore
import NeuralEngine
import Resampling
import Segmentation
import Testing
@testable import Training

@Suite struct ValidationTests {
    /// A 4×4×1 case with 2 mm voxels (8 µL): outputs background, gracilis (1), bone (2).
    func makeCase(scored: [Int], truth: [Int32], exact: [String: Double]) -> (ValidationCase, ModelPlan) {
        let plan = Fixtures.thighPlan(classIDs: [6, 42])
        let grid = Grid(shape: [4, 4, 1], affine: Affine(columns: SIMD3(2, 0, 0), SIMD3(0, 2, 0), SIMD3(0, 0, 2), origin: SIMD3(0, 0, 0)))
        let t = try! ProfileTransform(source: grid, profile: ResampleProfile(inPlaneSpacing: 2))
        let prepared = PreparedCase(caseName: "c", subject: "s", dataset: "d", region: .thigh, info: ImageLabelInfo(),
                                    scoredChannels: scored, transform: t,
                                    window: SliceWindow(sliceWidth: 4, sliceHeight: 4, width: 4, height: 4), sliceCount: 1,
                                    images: [], targets: [], hasForeground: [true])
        let ids = ["gracilis": 6, "bone": 42]
        let truthFile = CaseTruth(classes: exact.map { CaseTruth.ClassVolume(id: ids[$0.key]!, name: $0.key, exactML: $0.value) })
        return (ValidationCase(prepared: prepared, nativeTargets: LabelVolume(grid: grid, data: truth), truth: truthFile), plan)
    }

    @Test func diceIsPresenceAwareAndVolumesUseTheNativeGrid() {
        // truth: 4 gracilis voxels, 2 bone voxels; prediction: 3 of the gracilis + 1 false positive, bone all wrong
        let truth: [Int32] = [1, 1, 1, 1, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        let pred: [Int32] = [1, 1, 1, 0, 0, 0, 1, 2, 2, 2, 0, 0, 0, 0, 0, 0]
        let (v, plan) = makeCase(scored: [1], truth: truth, exact: ["gracilis": 0.032, "bone": 0.016])
        let s = Validator.score(predicted: LabelVolume(grid: v.nativeTargets.grid, data: pred), case: v, plan: plan)
        #expect(s.dice.keys.sorted() == ["gracilis"])                 // bone not annotated: not scored
        #expect(abs(s.dice["gracilis"]! - 2.0 * 3 / (4 + 4)) < 1e-12)  // |P∩T| = 3, |P| = 4, |T| = 4
        // volumes: 8 µL voxels; gracilis predicted 4 voxels = 0.032 mL (exact 0.032), bone 3 = 0.024 (exact 0.016)
        #expect(abs(s.volumes["gracilis"]!.errorPercent) < 1e-9)
        #expect(abs(s.volumes["bone"]!.predictedML - 0.024) < 1e-12 && abs(s.volumes["bone"]!.errorML - 0.008) < 1e-12)
        #expect(abs(s.volumes["bone"]!.errorPercent - 50) < 1e-9)
        let r = Validator.summarize([s, s])
        #expect(abs(r.meanDice - 0.75) < 1e-12)
        #expect(abs(r.medianAbsVolumeErrorPercent! - 25) < 1e-9)     // median of {0, 0, 50, 50}
    }

    @Test func classEmptyInTruthAndPredictionIsNotScored() {
        let (v, plan) = makeCase(scored: [1, 2], truth: [Int32](repeating: 0, count: 16), exact: [:])
        var pred = [Int32](repeating: 0, count: 16)
        pred[5] = 1
        let s = Validator.score(predicted: LabelVolume(grid: v.nativeTargets.grid, data: pred), case: v, plan: plan)
        #expect(s.dice == ["gracilis": 0])   // predicted but absent: 0; bone absent in both: no score
        #expect(s.volumes.isEmpty)
    }

    /// States written before `errorML` existed still decode (resume of older runs).
    @Test func volumeErrorWithoutErrorMLDecodes() throws {
        let old = #"{"predictedML": 12.5, "exactML": 10, "errorPercent": 25}"#
        let v = try JSONDecoder().decode(VolumeError.self, from: Data(old.utf8))
        #expect(v.errorML == 2.5 && v.errorPercent == 25)
        let current = try JSONDecoder().decode(VolumeError.self, from: JSONEncoder().encode(VolumeError(predictedML: 1, exactML: 2, errorML: -1, errorPercent: -50)))
        #expect(current.errorML == -1)
    }
}
