import Anatomy
import Foundation
import ImagingCore
import NeuralEngine
import Resampling
import Segmentation
import Testing
@testable import Training

@Suite struct SamplerTests {
    /// A synthetic case of `slices` 8×8 slices; slice k has foreground when `fg(k)`; pixel values
    /// encode (case, slice, pixel) so tests can see what was drawn.
    static func makeCase(_ id: Int, dataset: String, slices: Int, region: Region = .thigh, fg: (Int) -> Bool) -> PreparedCase {
        let grid = Grid(shape: [8, 8, slices], affine: .identity)
        let t = try! ProfileTransform(source: grid, profile: ResampleProfile(inPlaneSpacing: 1))
        var images = [Float](repeating: 0, count: slices * 64), targets = [Int32](repeating: 0, count: slices * 64)
        for k in 0..<slices {
            for p in 0..<64 { images[k * 64 + p] = Float(id * 1000 + k) / 1e4 + Float(p) / 1e6 }
            if fg(k) { targets[k * 64 + 27] = 1 }
        }
        return PreparedCase(caseName: "c\(id)", subject: "s\(id)", dataset: dataset, region: region,
                            info: ImageLabelInfo(), scoredChannels: [1], transform: t,
                            window: SliceWindow(sliceWidth: 8, sliceHeight: 8, width: 8, height: 8), sliceCount: slices,
                            images: images, targets: targets, hasForeground: (0..<slices).map(fg))
    }

    let cases = [
        makeCase(0, dataset: "a", slices: 20, fg: { $0 % 4 == 0 }),   // few foreground slices
        makeCase(1, dataset: "a", slices: 5, fg: { _ in true }),
        makeCase(2, dataset: "b", slices: 40, fg: { $0 < 30 }),       // many
        makeCase(3, dataset: "c", slices: 3, fg: { _ in false }),     // none: background only
    ]

    @Test func datasetsInConstantProportionAndHalfForeground() {
        var options = SamplerOptions(batchSize: 6, foregroundFraction: 0.5, augmentation: .none)
        let sampler = BatchSampler(cases: cases, options: options, seed: 7)
        #expect(sampler.datasets == ["a", "b", "c"])
        var perDataset: [String: Int] = [:], foreground: [String: Int] = [:]
        for step in 0..<100 {
            let b = sampler.batch(step: step)
            var inBatch: [String: Int] = [:]
            for (j, s) in b.sources.enumerated() {
                inBatch[s.dataset, default: 0] += 1
                if s.foreground { foreground[s.dataset, default: 0] += 1 }
                #expect(b.images[j * 64] == Float(s.caseIndex * 1000 + s.slice) / 1e4)  // the image is that case's slice
                #expect(cases[s.caseIndex].hasForeground[s.slice] == b.targets[(j * 64)..<((j + 1) * 64)].contains(1))
            }
            #expect(inBatch == ["a": 2, "b": 2, "c": 2])  // 6 slots over 3 datasets: every batch the same share
            for (d, n) in inBatch { perDataset[d, default: 0] += n }
        }
        #expect(perDataset == ["a": 200, "b": 200, "c": 200])
        #expect(foreground["a"] == 100 && foreground["b"] == 100)  // exactly half
        #expect(foreground["c"] == nil)                             // dataset c has no foreground: background only
        // Another share: a quarter.
        options.foregroundFraction = 0.25
        let quarter = BatchSampler(cases: cases, options: options, seed: 7)
        let fgCount = (0..<100).flatMap { quarter.batch(step: $0).sources }.filter { $0.dataset == "b" && $0.foreground }.count
        #expect(fgCount == 50)
    }

    @Test func unevenBatchRotatesTheRemainder() {
        let sampler = BatchSampler(cases: cases, options: SamplerOptions(batchSize: 4, augmentation: .none), seed: 1)
        var total: [String: Int] = [:]
        for step in 0..<30 {
            let counts = Dictionary(grouping: sampler.batch(step: step).sources, by: \.dataset).mapValues(\.count)
            #expect(counts.values.allSatisfy { $0 == 1 || $0 == 2 })
            for (d, n) in counts { total[d, default: 0] += n }
        }
        #expect(total == ["a": 40, "b": 40, "c": 40])
    }

    @Test func deterministicGivenSeedAndIndependentOfHistory() {
        let options = SamplerOptions(batchSize: 5)  // augmentation on
        let a = BatchSampler(cases: cases, options: options, seed: 42)
        let b = BatchSampler(cases: cases, options: options, seed: 42)
        let c = BatchSampler(cases: cases, options: options, seed: 43)
        let late = a.batch(step: 17)
        for s in 0..<17 { _ = a.batch(step: s) }
        #expect(b.batch(step: 17).images == late.images)
        #expect(b.batch(step: 17).targets == late.targets)
        #expect(a.batch(step: 17).images == late.images)
        #expect(c.batch(step: 17).images != late.images)
    }

    /// Flip only: thigh slices are mirrored in x, abdomen slices never.
    @Test func flipsWhereAnatomyAllows() {
        var aug = Augmentation()
        aug.maxRotationDegrees = 0
        aug.maxScaleChange = 0
        aug.intensityJitter = 0
        aug.maxShiftFraction = 0
        aug.flipProbability = 1
        let thigh = Self.makeCase(0, dataset: "t", slices: 1, region: .thigh, fg: { _ in true })
        let abdomen = Self.makeCase(0, dataset: "t", slices: 1, region: .abdomen, fg: { _ in true })
        let options = SamplerOptions(batchSize: 1, augmentation: aug)
        let flipped = BatchSampler(cases: [thigh], options: options, seed: 3).batch(step: 0)
        let kept = BatchSampler(cases: [abdomen], options: options, seed: 3).batch(step: 0)
        // foreground pixel 27 = (x 3, y 3) → (x 4, y 3) = 28 when mirrored in x
        #expect(flipped.targets[28] == 1 && flipped.targets[27] == 0)
        #expect(kept.targets[27] == 1 && kept.targets[28] == 0)
        #expect(flipped.images[0] == thigh.images[7] && flipped.images[0] != thigh.images[0])  // row 0 reversed
        #expect(kept.images == abdomen.images)
    }

    /// Shift only: the bright square and its targets move together, by up to the drawn fraction
    /// of the window, and differently per draw; with no shift the slice comes back unchanged.
    @Test func shiftMovesImageAndTargetsTogether() throws {
        let grid = Grid(shape: [32, 32, 1], affine: .identity)
        let t = try ProfileTransform(source: grid, profile: ResampleProfile(inPlaneSpacing: 1))
        var images = [Float](repeating: 0.1, count: 1024), targets = [Int32](repeating: 0, count: 1024)
        for y in 12..<20 { for x in 12..<20 { images[y * 32 + x] = 0.9; targets[y * 32 + x] = 1 } }
        let c = PreparedCase(caseName: "sq", subject: "s", dataset: "d", region: .thigh, info: ImageLabelInfo(), scoredChannels: [1],
                             transform: t, window: SliceWindow(sliceWidth: 32, sliceHeight: 32, width: 32, height: 32),
                             sliceCount: 1, images: images, targets: targets, hasForeground: [true])
        var aug = Augmentation()
        aug.maxRotationDegrees = 0
        aug.maxScaleChange = 0
        aug.intensityJitter = 0
        aug.flipProbability = 0
        aug.maxShiftFraction = 0
        let still = BatchSampler(cases: [c], options: SamplerOptions(batchSize: 2, augmentation: aug), seed: 5).batch(step: 0)
        #expect(still.images == images + images && still.targets == targets + targets)
        aug.maxShiftFraction = 0.25  // up to 8 pixels each way
        let sampler = BatchSampler(cases: [c], options: SamplerOptions(batchSize: 4, augmentation: aug), seed: 5)
        var centres: Set<[Int]> = []
        for step in 0..<5 {
            let b = sampler.batch(step: step)
            for j in 0..<4 {
                var sx = 0, sy = 0, n = 0
                for i in 0..<1024 where b.targets[j * 1024 + i] == 1 {
                    sx += i % 32; sy += i / 32; n += 1
                    #expect(b.images[j * 1024 + i] > 0.25)  // targets stay on the bright square (a corner pixel blends in ¾ of the 0.1 around: 0.3)
                }
                #expect(n == 64)  // a whole-pixel move of a square well inside: nothing lost
                let (dx, dy) = (Double(sx) / 64 - 15.5, Double(sy) / 64 - 15.5)
                #expect(abs(dx) <= 8.5 && abs(dy) <= 8.5)
                centres.insert([Int(dx.rounded()), Int(dy.rounded())])
            }
        }
        #expect(centres.count >= 10)  // 20 draws, mostly different places
    }

    /// A case wider than the input (a bilateral slice) gives crops of the input size, each an
    /// exact block of the slice, at places that cover the whole slice over the draws; a case of
    /// the input size beside it comes whole and draws no offset.
    @Test func widerCasesAreCroppedAtRandomPlaces() throws {
        let grid = Grid(shape: [48, 8, 1], affine: .identity)
        let t = try ProfileTransform(source: grid, profile: ResampleProfile(inPlaneSpacing: 1))
        let (h, w) = (8, 48)
        let images = (0..<(h * w)).map { Float($0) }, targets = (0..<(h * w)).map { Int32($0 % w) }  // target = column
        let wide = PreparedCase(caseName: "wide", subject: "s", dataset: "a", region: .thigh, info: ImageLabelInfo(), scoredChannels: [1],
                                transform: t, window: SliceWindow(sliceWidth: w, sliceHeight: h, width: w, height: h),
                                sliceCount: 1, images: images, targets: targets, hasForeground: [true])
        let plain = Self.makeCase(1, dataset: "b", slices: 1, fg: { _ in true })  // 8 × 8
        let sampler = BatchSampler(cases: [wide, plain], options: SamplerOptions(batchSize: 2, augmentation: .none), seed: 4,
                                   inputSize: (8, 8))
        var firstColumns: Set<Int32> = []
        for step in 0..<40 {
            let b = sampler.batch(step: step)
            for j in 0..<2 {
                let img = Array(b.images[(j * 64)..<((j + 1) * 64)]), tgt = Array(b.targets[(j * 64)..<((j + 1) * 64)])
                if b.sources[j].caseIndex == 1 {
                    #expect(img == plain.images)
                    continue
                }
                let ox = Int(tgt[0])
                #expect((0...40).contains(ox))
                for y in 0..<8 {
                    for x in 0..<8 {
                        #expect(tgt[y * 8 + x] == Int32(ox + x) && img[y * 8 + x] == Float(y * w + ox + x))
                    }
                }
                firstColumns.insert(tgt[0])
            }
        }
        // 40 crops over 41 places: the left and right thirds both come up, not only the middle
        #expect(firstColumns.contains { $0 < 14 } && firstColumns.contains { $0 > 27 } && firstColumns.count >= 15)
    }

    /// Run states written before the shift existed decode with no shift.
    @Test func oldAugmentationStateDecodesWithoutShift() throws {
        var old = try JSONSerialization.jsonObject(with: JSONEncoder().encode(Augmentation())) as! [String: Any]
        #expect(old["maxShiftFraction"] as? Double == 0.2)
        old["maxShiftFraction"] = nil
        let decoded = try JSONDecoder().decode(Augmentation.self, from: JSONSerialization.data(withJSONObject: old))
        #expect(decoded.maxShiftFraction == 0 && decoded.maxRotationDegrees == 10 && decoded.enabled)
    }

    @Test func rotationKeepsTargetsAlignedWithTheImage() {
        // A bright square with target 1 under it: after any rotation/scale, target pixels are bright.
        let grid = Grid(shape: [32, 32, 1], affine: .identity)
        let t = try! ProfileTransform(source: grid, profile: ResampleProfile(inPlaneSpacing: 1))
        var images = [Float](repeating: 0.1, count: 1024), targets = [Int32](repeating: 0, count: 1024)
        for y in 10..<22 { for x in 12..<20 { images[y * 32 + x] = 0.9; targets[y * 32 + x] = 1 } }
        let c = PreparedCase(caseName: "sq", subject: "s", dataset: "d", region: .abdomen, info: ImageLabelInfo(), scoredChannels: [1],
                             transform: t, window: SliceWindow(sliceWidth: 32, sliceHeight: 32, width: 32, height: 32),
                             sliceCount: 1, images: images, targets: targets, hasForeground: [true])
        var aug = Augmentation()
        aug.maxRotationDegrees = 30
        aug.intensityJitter = 0
        let sampler = BatchSampler(cases: [c], options: SamplerOptions(batchSize: 4, augmentation: aug), seed: 9)
        for step in 0..<5 {
            let b = sampler.batch(step: step)
            #expect(b.images != Array(repeating: images, count: 4).flatMap { $0 })  // something moved
            for i in 0..<b.targets.count where b.targets[i] == 1 { #expect(b.images[i] > 0.25) }
        }
    }

    /// Case weights shift draws within a dataset, not the dataset shares; all-1 weights draw
    /// exactly what no weights draw.
    @Test func caseWeightsFavourNewCasesWithinTheirDataset() {
        let two = [Self.makeCase(0, dataset: "a", slices: 10, fg: { _ in true }), Self.makeCase(1, dataset: "a", slices: 10, fg: { _ in true }),
                   Self.makeCase(2, dataset: "b", slices: 10, fg: { _ in true })]
        let options = SamplerOptions(batchSize: 4, foregroundFraction: 1, augmentation: .none)
        let plain = BatchSampler(cases: two, options: options, seed: 3)
        let ones = BatchSampler(cases: two, options: options, seed: 3, weights: [1, 1, 1])
        let weighted = BatchSampler(cases: two, options: options, seed: 3, weights: [1, 4, 1])
        var count = [0, 0, 0], countPlain = [0, 0, 0]
        for step in 0..<500 {
            #expect(plain.batch(step: step).images == ones.batch(step: step).images)
            for s in weighted.batch(step: step).sources { count[s.caseIndex] += 1 }
            for s in plain.batch(step: step).sources { countPlain[s.caseIndex] += 1 }
        }
        #expect(count[2] == 1000 && countPlain[2] == 1000)            // dataset b keeps its half
        let share = Double(count[1]) / Double(count[0] + count[1])      // expected 0.8
        #expect(abs(share - 0.8) < 0.04, "share \(share)")
        #expect(abs(Double(countPlain[1]) / 1000 - 0.5) < 0.06)
    }
}
