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

    /// The blocked softmax (pixel blocks of 64, bands of a plane) writes bit for bit the values of
    /// its pixel-by-pixel reference twin, and verdicts equal to `NativeArgmax.decisions` of them:
    /// pixel counts that are not multiples of the block, logits that tie (equal maxima), differ by
    /// a hair, span hundreds (underflowing exponentials) and are NaN or infinite.
    @Test(arguments: [1, 63, 64, 65, 300])
    func blockedSoftmaxEqualsItsReferenceBitForBit(pixels hw: Int) {
        let c = 7, allowed = [0, 2, 3, 6]
        var state: UInt64 = UInt64(hw) &* 7919
        var logits = [Float](repeating: 0, count: c * hw)
        for n in 0..<(c * hw) {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let r = Int(state >> 33)
            switch r % 10 {
            case 0: logits[n] = 1.5                       // ties between channels
            case 1: logits[n] = Float(1.5).nextUp               // a hair above
            case 2: logits[n] = Float(r % 400) - 200      // wide range
            case 3 where r % 50 == 3: logits[n] = .nan
            case 4 where r % 60 == 4: logits[n] = -.infinity
            default: logits[n] = Float(r % 10_000) / 1000 - 5
            }
        }
        let ca = allowed.count
        var fast = [Float](repeating: -7, count: hw * ca), reference = fast
        var verdicts = [Int16](repeating: -9, count: hw)
        logits.withUnsafeBufferPointer { l in
            fast.withUnsafeMutableBufferPointer { o in
                verdicts.withUnsafeMutableBufferPointer { v in
                    // Two bands, as `run` splits a plane.
                    let half = hw / 2
                    SliceInference.restrictedSoftmax(logits: l.baseAddress!, channels: c, planeStride: hw, pixels: half, allowed: allowed,
                                                     out: o.baseAddress!, verdicts: v.baseAddress!)
                    SliceInference.restrictedSoftmax(logits: l.baseAddress! + half, channels: c, planeStride: hw, pixels: hw - half,
                                                     allowed: allowed, out: o.baseAddress! + half * ca, verdicts: v.baseAddress! + half)
                }
            }
            reference.withUnsafeMutableBufferPointer { o in
                SliceInference.referenceSoftmax(logits: l.baseAddress!, channels: c, pixels: hw, allowed: allowed, out: o.baseAddress!)
            }
        }
        #expect(fast.map(\.bitPattern) == reference.map(\.bitPattern))
        let probs = WindowProbabilities(slices: 1, height: 1, width: hw, channelIDs: [0, 1, 2, 3], data: reference)
        #expect(verdicts == NativeArgmax.decisions(probs))
        if hw >= 64 { #expect(verdicts.contains(-1) && verdicts.contains { $0 >= 0 }) }
    }

    /// `SliceInference.run` hands over the verdicts of its probabilities; changing the data drops them.
    @Test func inferenceHandsOverTheVerdictsOfItsProbabilities() throws {
        let image = Self.obliqueImage()
        let plan = unionPlan(inputSize: [16, 16], profiles: [.abdomen: ResampleProfile(inPlaneSpacing: 1.3, sliceSpacing: 1.7)])
        let prepared = try Preprocessor.prepare(image, plan: plan, region: .abdomen, window: .covering(maxPixels: 1 << 20))
        let segmenter = try Segmenter(plan: plan, classifier: RandomClassifier(channels: plan.outputs.count, seed: 5), catalog: testCatalog)
        let channels = try segmenter.allowedChannels(for: .abdomen)
        let ids = channels.map { Int32(plan.outputs[$0].id) }
        var probs = SliceInference.run(prepared, classifier: segmenter.classifier, allowedChannels: channels, channelIDs: ids, batchSize: 2)
        let verdicts = try #require(probs.verdicts)
        #expect(verdicts == NativeArgmax.decisions(probs))
        probs.data[0] = 0.5
        #expect(probs.verdicts == nil)
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
