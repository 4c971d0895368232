import Anatomy
import Foundation
import ImagingCore
import Resampling
import Testing
@testable import Segmentation

@Suite struct InferenceTests {
    /// An oblique random image whose profile resamples all three axes (abdomen-like), so every
    /// trilinear case (corners outside the window, clamped edges, z interpolation) occurs.
    static func obliqueImage() -> ImageVolume {
        let c = 0.2, s = (1 - c * c).squareRoot()
        let affine = Affine(columns: SIMD3(-1.1 * s, 1.1 * c, 0), SIMD3(0, 0, 2.7), SIMD3(0.9 * c, 0.9 * s, 0.3),
                            origin: SIMD3(20, -10, 5))
        let grid = Grid(shape: [23, 9, 17], affine: affine)
        var state: UInt64 = 99
        let data = (0..<grid.voxelCount).map { _ -> Float in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40)
        }
        return ImageVolume(grid: grid, data: data)
    }

    @Test(arguments: [[16, 16], [48, 32]])
    func fusedArgmaxEqualsTheUnfusedReference(inputSize: [Int]) throws {
        let image = Self.obliqueImage()
        let profile = ResampleProfile(inPlaneSpacing: 1.3, sliceSpacing: 1.7)
        let plan = unionPlan(inputSize: inputSize, profiles: [.abdomen: profile])
        // The plan-size window (training's) crops and pads: the twins agree on the outside too.
        let prepared = try Preprocessor.prepare(image, plan: plan, region: .abdomen, window: .planSize)
        let segmenter = try Segmenter(plan: plan, classifier: RandomClassifier(channels: plan.outputs.count, seed: 5), catalog: testCatalog)
        let channels = try segmenter.allowedChannels(for: .abdomen)
        let ids = channels.map { Int32(plan.outputs[$0].id) }
        let probs = SliceInference.run(prepared, classifier: segmenter.classifier, allowedChannels: channels, channelIDs: ids, batchSize: 3)
        let fused = NativeArgmax.labels(probs, window: prepared.window, transform: prepared.transform)
        let reference = NativeArgmax.unfusedReference(probs, window: prepared.window, transform: prepared.transform)
        #expect(fused.grid == image.grid)
        #expect(fused.data == reference.data)
        // Not a trivial agreement: several classes and background appear.
        #expect(Set(fused.data).count >= 4 && fused.data.contains(0))
    }

    @Test func restrictedSoftmaxRenormalisesOverAllowedChannels() {
        // 3 channels, 2 pixels: logits (C, HW).
        let logits: [Float] = [0, 1,   5, 2,   1, 3]
        var out = [Float](repeating: -1, count: 4)
        logits.withUnsafeBufferPointer { l in
            out.withUnsafeMutableBufferPointer { o in
                SliceInference.restrictedSoftmax(logits: l.baseAddress!, channels: 3, pixels: 2, allowed: [0, 2], out: o.baseAddress!)
            }
        }
        // Pixel 0: softmax(0, 1); pixel 1: softmax(1, 3); channel 1 (logit 5) ignored.
        let e1 = Float(1 / (1 + exp(1.0))), e2 = Float(1 / (1 + exp(2.0)))
        #expect(abs(out[0] - e1) < 1e-6 && abs(out[1] - (1 - e1)) < 1e-6)
        #expect(abs(out[2] - e2) < 1e-6 && abs(out[3] - (1 - e2)) < 1e-6)
    }

    @Test func regionDetectionReadsBodyPartThenDescription() throws {
        #expect(RegionDetection.region(bodyPart: "THIGH", description: nil) == .thigh)
        #expect(RegionDetection.region(bodyPart: "LEG", description: "whatever") == .calf)
        #expect(RegionDetection.region(bodyPart: "lower leg", description: nil) == .calf)
        #expect(RegionDetection.region(bodyPart: "ABDOMEN", description: "thigh") == .abdomen)
        #expect(RegionDetection.region(bodyPart: nil, description: "T1 AX CALF R") == .calf)
        #expect(RegionDetection.region(bodyPart: "EXTREMITY", description: "t1_tse upper leg") == .thigh)
        #expect(RegionDetection.region(bodyPart: nil, description: "Abd/Pelvis 5mm") == .abdomen)
        #expect(RegionDetection.region(bodyPart: nil, description: "thigh and calf") == nil)
        #expect(RegionDetection.region(bodyPart: nil, description: "T1 axial") == nil)
        #expect(RegionDetection.region(bodyPart: nil, description: "calfskin") == nil)
        var m = ScanMetadata()
        m.seriesDescription = "T1 axial"
        #expect(throws: ImagingError.self) { try RegionDetection.region(of: m, input: "scan") }
        do { _ = try RegionDetection.region(of: m, input: "scan") } catch {
            #expect(error.code == .regionUnknown && error.remedy.contains("--region"))
            #expect(!error.reason.contains("T1 axial"))  // the description is not echoed
        }
    }
}
