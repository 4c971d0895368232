import Anatomy
import ImagingCore
import Phantoms
import Resampling
import Testing
@testable import Segmentation

/// The whole pipeline with an oracle network: what comes back on the native grid is the truth,
/// up to the partial-volume bound of docs/resampling.md (here for the oracle's labels, which are
/// the truth brought to the profile grid by nearest neighbour).
@Suite struct PipelineTests {
    /// Half-widths M_a (native voxels) of the box within which a changed voxel must see another
    /// truth label: a native centre x takes the label of one of the 8 trilinear corners y
    /// (|y_a − x_a| ≤ s'_a), whose oracle label is the truth at the native centre z nearest to y
    /// (|z_a − y_a| ≤ s_a/2), so |z_a − x_a| ≤ s'_a + s_a/2 and the whole number of native steps
    /// is at most M_a = floor(1/2 + s'_a/s_a); 0 on a kept slice axis.
    static func box(_ grid: Grid, _ profile: ResampleProfile) throws -> [Int] {
        let t = try ProfileTransform(source: grid, profile: profile)
        var m = [0, 0, 0]
        for c in 0..<3 {
            let native = t.reorientation.sourceAxis[c]
            guard let target = c < 2 ? profile.inPlaneSpacing : profile.sliceSpacing else { continue }
            m[native] = Int((0.5 + target / grid.spacing[native]).rounded(.down))
        }
        return m
    }

    /// Checks the bound: (1) every changed voxel has a different truth label within its box;
    /// (2) per class, |voxel count change| ≤ the voxels whose box mixes the class with others.
    /// Returns the number of changed voxels.
    static func checkBound(result: LabelVolume, truth: LabelVolume, box m: [Int]) -> Int {
        let s = truth.shape
        var changed = 0
        var band: [Int32: Int] = [:], delta: [Int32: Int] = [:]
        for k in 0..<s[2] {
            for j in 0..<s[1] {
                for i in 0..<s[0] {
                    let t = truth[i, j, k], r = result[i, j, k]
                    var seen = Set<Int32>([t])
                    for kk in max(k - m[2], 0)...min(k + m[2], s[2] - 1) {
                        for jj in max(j - m[1], 0)...min(j + m[1], s[1] - 1) {
                            for ii in max(i - m[0], 0)...min(i + m[0], s[0] - 1) { seen.insert(truth[ii, jj, kk]) }
                        }
                    }
                    if seen.count > 1 { for c in seen { band[c, default: 0] += 1 } }
                    if t != r {
                        changed += 1
                        #expect(seen.count > 1, "voxel (\(i), \(j), \(k)) changed \(t) → \(r) away from any boundary")
                        delta[t, default: 0] -= 1
                        delta[r, default: 0] += 1
                    }
                }
            }
        }
        for (c, d) in delta where c != 0 {
            #expect(abs(d) <= band[c, default: 0], "class \(c): volume change of \(d) voxels exceeds the band of \(band[c, default: 0])")
        }
        return changed
    }

    static func run(_ phantom: Phantom, plan: ModelPlan, islands: IslandRemoval = .off) throws -> (SegmentationResult, OracleClassifier) {
        let region = phantom.request.region
        let oracle = try OracleClassifier(plan: plan, nativeTruth: phantom.labels, profile: plan.regions[region.rawValue]!.profile)
        let segmenter = try Segmenter(plan: plan, classifier: oracle, catalog: testCatalog,
                                      settings: SegmentationSettings(batchSize: 4, islands: islands))
        return (try segmenter.segment(phantom.image, region: region), oracle)
    }

    @Test func upsamplingProfileReproducesTheTruthExactly() throws {
        // 64² thigh: native spacing ≈ 3 mm > 0.78 mm, kept slices: M = 0, so the bound says exact.
        let phantom = try smallPhantom(.thigh, seed: 3, slices: 7)
        let plan = unionPlan(inputSize: try coveringInputSize(phantom.image.grid, profile: .thigh))
        #expect(try Self.box(phantom.image.grid, .thigh) == [0, 0, 0])
        let (result, oracle) = try Self.run(phantom, plan: plan)
        #expect(result.labels.grid == phantom.labels.grid)
        #expect(result.labels.data == phantom.labels.data)
        // Batches of 4 over 7 slices.
        #expect(oracle.calls == [0..<4, 4..<7])
        #expect(result.timings.map(\.stage) == ["preprocess", "inference", "to_native", "postprocess"])
    }

    @Test func downsamplingProfileStaysWithinThePartialVolumeBound() throws {
        // Calf with a profile 2.3× coarser than the native spacing in-plane: M = (2, 2, 0).
        let phantom = try smallPhantom(.calf, seed: 4, matrix: [72, 72], slices: 5)
        let s = phantom.image.grid.spacing
        let profile = ResampleProfile(inPlaneSpacing: 2.3 * s.x)
        let plan = unionPlan(inputSize: try coveringInputSize(phantom.image.grid, profile: profile), profiles: [.calf: profile])
        let m = try Self.box(phantom.image.grid, profile)
        #expect(m == [2, 2, 0])
        let (result, _) = try Self.run(phantom, plan: plan)
        let changed = Self.checkBound(result: result.labels, truth: phantom.labels, box: m)
        // The bound is not vacuous: changes happen, and they are a small part of the labelled voxels.
        let labelled = phantom.labels.data.filter { $0 != 0 }.count
        #expect(changed > 0 && changed < labelled / 3)
    }

    @Test func abdomenProfileResamplesSlicesWithinTheBound() throws {
        let phantom = try smallPhantom(.abdomen, seed: 5, matrix: [64, 64], slices: 8)
        let plan = unionPlan(inputSize: try coveringInputSize(phantom.image.grid, profile: .abdomen))
        let m = try Self.box(phantom.image.grid, .abdomen)
        #expect(m[0] == 0 && m[1] == 0 && m[2] >= 1)
        let (result, _) = try Self.run(phantom, plan: plan)
        _ = Self.checkBound(result: result.labels, truth: phantom.labels, box: m)
        #expect(Set(result.labels.data).isSubset(of: Set([0] + testCatalog.classes(in: .abdomen).map { Int32($0.id) })))
    }

    @Test func anOutOfRegionVoteNeverWins() throws {
        let phantom = try smallPhantom(.thigh, seed: 3, slices: 3)
        let plan = unionPlan(inputSize: try coveringInputSize(phantom.image.grid, profile: .thigh))
        let liver = testCatalog.class(named: "liver")!.id
        let oracle = try OracleClassifier(plan: plan, nativeTruth: phantom.labels, profile: .thigh)
        oracle.vote = (liver, 40)  // liver beats the true class (20) everywhere
        let segmenter = try Segmenter(plan: plan, classifier: oracle, catalog: testCatalog,
                                      settings: SegmentationSettings(batchSize: 8, islands: .off))
        let result = try segmenter.segment(phantom.image, region: .thigh)
        #expect(!result.labels.data.contains(Int32(liver)))
        #expect(result.labels.data == phantom.labels.data)
        #expect(!result.allowedIDs.contains(liver) && result.allowedIDs.first == 0)
        // The same vote wins for an abdomen scan, where the liver is allowed.
        let abdomen = try segmenter.allowedChannels(for: .abdomen)
        #expect(abdomen.contains(plan.channel(ofID: liver)!))
    }

    @Test func regionsTheModelLacksAreRefused() throws {
        let phantom = try smallPhantom(.thigh, seed: 3, slices: 2)
        var plan = unionPlan(inputSize: [64, 64])
        plan.regions["thigh"] = nil
        let segmenter = try Segmenter(plan: plan, classifier: RandomClassifier(channels: plan.outputs.count, seed: 1), catalog: testCatalog)
        #expect(throws: ImagingError.self) { try segmenter.segment(phantom.image, region: .thigh) }
        do { _ = try segmenter.segment(phantom.image, region: .thigh) } catch { #expect(error.code == .regionNotInModel) }
    }

    @Test func aSmallInputSizeStillSeesTheWholeSlice() throws {
        let phantom = try smallPhantom(.thigh, seed: 3, slices: 2)
        let plan = unionPlan(inputSize: [64, 64])  // far smaller than the ~250² profile slices
        let (result, oracle) = try Self.run(phantom, plan: plan)
        // The window grew to cover the profile slice (multiples of 2^depth = 4): nothing cropped,
        // and the upsampling profile reproduces the truth exactly (the former crop lost the rim).
        let t = result.transform.targetGrid.shape
        #expect(result.window.width > 64 && result.window.height > 64 && result.window.width % 4 == 0)
        #expect(result.window.covers(sliceWidth: t[0], sliceHeight: t[1]))
        #expect(oracle.windows.allSatisfy { $0 == result.window })
        #expect(result.labels.data == phantom.labels.data)
    }

    /// Both thighs side by side at the shipped model's coarse thigh profile (1.75 mm, 128² input):
    /// the profile slice is wider than the input size, and every voxel of both legs comes back
    /// (exactly: native ~6 mm, so the profile upsamples). With the plan-size window (the former
    /// inference window) both outer sides would be background.
    @Test func bilateralThighsWiderThanTheInputSizeAreSegmentedWhole() throws {
        let phantom = try smallPhantom(.thigh, seed: 2, bilateral: true, matrix: [64, 64], slices: 3)
        let profile = ResampleProfile(inPlaneSpacing: 1.75)
        let plan = unionPlan(inputSize: [128, 128], profiles: [.thigh: profile], depth: 4)
        let (result, _) = try Self.run(phantom, plan: plan)
        let t = result.transform.targetGrid.shape
        #expect(t[0] > 128, "the test needs a profile slice wider than the input size (\(t))")
        #expect(result.window.covers(sliceWidth: t[0], sliceHeight: t[1]) && result.window.width % 16 == 0)
        #expect(try Self.box(phantom.image.grid, profile) == [0, 0, 0])
        #expect(result.labels.data == phantom.labels.data)
        // Both legs are there: foreground on both sides of the middle of the left-right axis.
        let lr = result.transform.reorientation.sourceAxis[0]
        let s = result.labels.shape
        var sides = Set<Bool>()
        for k in 0..<s[2] {
            for j in 0..<s[1] {
                for i in 0..<s[0] where result.labels[i, j, k] != 0 {
                    sides.insert([i, j, k][lr] < s[lr] / 2)
                }
            }
        }
        #expect(sides == [true, false])
        // What the former window would have dropped: many foreground voxels outside it.
        let old = SliceWindow(sliceWidth: t[0], sliceHeight: t[1], width: 128, height: 128)
        let onProfile = try ProfileTransform(source: phantom.labels.grid, profile: profile).toProfile(phantom.labels)
        var outside = 0
        for k in 0..<t[2] {
            for j in 0..<t[1] {
                for i in 0..<t[0] where onProfile[i, j, k] != 0 {
                    let x = i - old.offsetX, y = j - old.offsetY
                    if x < 0 || x >= 128 || y < 0 || y >= 128 { outside += 1 }
                }
            }
        }
        #expect(outside > 1000)
    }

    @Test func aWindowOverTheLimitIsRefusedNotCropped() throws {
        let phantom = try smallPhantom(.thigh, seed: 2, bilateral: true, matrix: [64, 64], slices: 2)
        let plan = unionPlan(inputSize: [128, 128], profiles: [.thigh: ResampleProfile(inPlaneSpacing: 1.75)], depth: 4)
        let segmenter = try Segmenter(plan: plan, classifier: RandomClassifier(channels: plan.outputs.count, seed: 1), catalog: testCatalog,
                                      settings: SegmentationSettings(maxWindowPixels: 128 * 128))
        do {
            _ = try segmenter.segment(phantom.image, region: .thigh, input: "legs.nii.gz")
            Issue.record("a window over the limit was not refused")
        } catch {
            #expect(error.code == .windowTooLarge)
            #expect(error.input == "legs.nii.gz")
            #expect(error.reason.contains("over the limit of 16384") && error.remedy.contains("max_window_pixels"))
        }
        // At the limit it runs.
        let t = try ProfileTransform(source: phantom.image.grid, profile: ResampleProfile(inPlaneSpacing: 1.75)).targetGrid.shape
        let w = SliceWindow.covering(sliceWidth: t[0], sliceHeight: t[1], minimumWidth: 128, minimumHeight: 128, multiple: 16)
        segmenter.settings.maxWindowPixels = w.width * w.height
        #expect(try segmenter.segment(phantom.image, region: .thigh).window == w)
    }
}
