import Anatomy
import ImagingCore
import Resampling
import Testing
@testable import Segmentation

/// The fast paths (decided-corner native argmax, run-length island removal) against their
/// reference twins, voxel for voxel.
@Suite struct FastPathTests {
    /// Blocky probabilities with near ties: each window pixel has a winner (blocks of 3 × 4 × 2
    /// pixels) and a runner-up whose lead is drawn from margins around `decisiveMargin` (above,
    /// at, below it, an exact tie), so decided and undecided corners meet at every block edge.
    static func blockyProbabilities(slices: Int, window: SliceWindow, ids: [Int32], seed: UInt64) -> WindowProbabilities {
        let ca = ids.count, w = window.width, h = window.height
        let leads: [Float] = [0.3, 1e-3, 1.5e-4, 1e-4, 9.9e-5, 1e-6, 0]
        var state = seed
        var data = [Float](repeating: 0, count: slices * h * w * ca)
        for k in 0..<slices {
            for y in 0..<h {
                for x in 0..<w {
                    let q = ((k * h + y) * w + x) * ca
                    let winner = (x / 3 + y / 4 + k / 2) % ca
                    for a in 0..<ca {
                        state = state &* 6364136223846793005 &+ 1442695040888963407
                        data[q + a] = Float(state >> 40) / Float(1 << 24) * 0.3
                    }
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    data[q + winner] = 0.6
                    data[q + (winner + 1) % ca] = 0.6 - leads[Int(state >> 33) % leads.count]
                }
            }
        }
        return WindowProbabilities(slices: slices, height: h, width: w, channelIDs: ids, data: data)
    }

    /// An axis-aligned LPS grid (i, j move profile x, y), and one stored with i and j swapped
    /// (i moves profile y: the phantoms' layout).
    static let alignedGrid = Grid(shape: [23, 19, 9], affine: Affine(columns: SIMD3(-1.1, 0, 0), SIMD3(0, -0.9, 0), SIMD3(0, 0, 2.7),
                                                                     origin: SIMD3(20, -10, 5)))
    static let swappedGrid = Grid(shape: [19, 23, 9], affine: Affine(columns: SIMD3(0, -0.9, 0), SIMD3(-1.1, 0, 0), SIMD3(0, 0, 2.7),
                                                                     origin: SIMD3(20, -10, 5)))

    /// Speckle (every window pixel's winner drawn at random among 13 channels, runners-up near
    /// the margin, some pixels with NaN or a value above 1): the aligned path, where almost no
    /// corners agree and the SIMD channel loop runs on more than 8 channels, equals the references.
    @Test(arguments: [0, 1, 2, 3])
    func alignedPathEqualsTheReferencesOnSpeckle(kind: Int) throws {
        let grid = [Self.alignedGrid, Self.alignedGrid, Self.swappedGrid, Self.swappedGrid][kind]
        let profile = ResampleProfile(inPlaneSpacing: 0.7, sliceSpacing: kind % 2 == 1 ? nil : 1.1)
        let transform = try ProfileTransform(source: grid, profile: profile)
        let t = transform.targetGrid.shape
        let window = SliceWindow(sliceWidth: t[0], sliceHeight: t[1], width: 32, height: 32)
        let ids: [Int32] = [0, 2, 3, 5, 7, 9, 11, 12, 14, 15, 18, 20, 21]
        let ca = ids.count, w = window.width, h = window.height
        let leads: [Float] = [0.3, 0.01, 1.5e-4, 1e-4, 9.9e-5, 1e-6, 0]
        var state: UInt64 = 99
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        var data = [Float](repeating: 0, count: t[2] * h * w * ca)
        for n in 0..<(t[2] * h * w) {
            let q = n * ca
            for a in 0..<ca { data[q + a] = Float(next() % 1000) / 1000 * 0.3 }
            let winner = Int(next()) % ca
            data[q + winner] = 0.5
            data[q + (winner + 1 + Int(next()) % (ca - 1)) % ca] = 0.5 - leads[Int(next()) % leads.count]
            if n % 97 == 0 { data[q + Int(next()) % ca] = .nan }
            if n % 89 == 0 { data[q + Int(next()) % ca] = 1.25 }
        }
        let probs = WindowProbabilities(slices: t[2], height: h, width: w, channelIDs: ids, data: data)
        let fast = NativeArgmax.labels(probs, window: window, transform: transform)
        #expect(fast.data == NativeArgmax.fusedReference(probs, window: window, transform: transform).data)
        #expect(Set(fast.data).count > 8)
        // The unfused reference resamples channels on their own, where a NaN spreads otherwise:
        // compare it without the NaN pixels.
        let finite = WindowProbabilities(slices: t[2], height: h, width: w, channelIDs: ids, data: data.map { $0.isNaN ? 0.75 : $0 })
        #expect(NativeArgmax.labels(finite, window: window, transform: transform).data
                == NativeArgmax.unfusedReference(finite, window: window, transform: transform).data)
    }

    /// Oblique grid (general path); aligned and swapped grids with resampled slices (8 corners)
    /// and with kept slices (4 corners); windows that crop and that pad.
    @Test(arguments: [(0, [16, 16]), (0, [40, 40]), (1, [16, 16]), (1, [40, 40]), (2, [12, 30]), (3, [16, 16]), (3, [40, 40]), (4, [30, 12])])
    func decidedShortcutEqualsTheReferencesOnNearTies(kind: Int, window size: [Int]) throws {
        let grid = [InferenceTests.obliqueImage().grid, Self.alignedGrid, Self.alignedGrid, Self.swappedGrid, Self.swappedGrid][kind]
        let profile = ResampleProfile(inPlaneSpacing: 0.7, sliceSpacing: kind == 2 || kind == 4 ? nil : 1.1)
        let transform = try ProfileTransform(source: grid, profile: profile)
        #expect(NativeArgmax.alignment(NativeArgmax.indexMap(transform)) == [nil, false, false, true, true][kind])
        let t = transform.targetGrid.shape
        let window = SliceWindow(sliceWidth: t[0], sliceHeight: t[1], width: size[0], height: size[1])
        let probs = Self.blockyProbabilities(slices: t[2], window: window, ids: [0, 3, 5, 9], seed: 17)
        let decided = NativeArgmax.decisions(probs)
        // Both kinds of profile pixel occur.
        #expect(decided.contains(-1) && decided.contains { $0 > 0 })
        let fast = NativeArgmax.labels(probs, window: window, transform: transform)
        #expect(fast.data == NativeArgmax.fusedReference(probs, window: window, transform: transform).data)
        #expect(fast.data == NativeArgmax.unfusedReference(probs, window: window, transform: transform).data)
        #expect(Set(fast.data) == [0, 3, 5, 9])
    }

    /// One-hot interior against the full softmax: on the oracle (peaky, most pixels interior),
    /// the oracle with a near-tie vote, and random logits (flat), on a straight phantom (kept
    /// slices: in-plane neighbours only) and an oblique one with resampled slices (neighbours
    /// across slices), with windows that cover and that crop and pad. The verdicts handed over
    /// are `decisions` of the data; every other pixel is the softmax bit for bit; the labels of
    /// the fast path and of both reference twins on either buffer are the full softmax's.
    @Test(arguments: [(false, 0), (false, 1), (true, 0), (true, 2)])
    func oneHotInteriorGivesTheFullSoftmaxLabels(oblique: Bool, kind: Int) throws {
        let phantom = try smallPhantom(.thigh, seed: 5, matrix: [48, 40], slices: 5, oblique: oblique)
        let profile = ResampleProfile(inPlaneSpacing: 1.7, sliceSpacing: oblique ? 2.5 : nil)
        let plan = unionPlan(inputSize: [32, 32], profiles: [.thigh: profile])
        let oracle = try OracleClassifier(plan: plan, nativeTruth: phantom.labels, profile: profile)
        // A fresh random classifier per run: it draws new logits on every call.
        func classifier() -> any SliceClassifier { kind == 2 ? RandomClassifier(channels: plan.outputs.count, seed: 3) : oracle }
        let segmenter = try Segmenter(plan: plan, classifier: classifier(), catalog: testCatalog)
        let channels = try segmenter.allowedChannels(for: .thigh)
        let ids = channels.map { Int32(plan.outputs[$0].id) }
        if kind == 1 { oracle.vote = (Int(ids[2]), Float(20) - 1e-4) }
        for policy in [WindowPolicy.covering(maxPixels: 1 << 20), .planSize] {
            let prepared = try Preprocessor.prepare(phantom.image, plan: plan, region: .thigh, window: policy)
            let (window, transform) = (prepared.window, prepared.transform)
            // Kept slices: only the clamped last pair (fz = 1 on the last slice) is interpolated.
            let pairs = NativeArgmax.slicePairsInterpolated(transform)
            #expect(oblique ? pairs.filter { $0 }.count > 1 : pairs == (0..<pairs.count).map { $0 == pairs.count - 2 })
            let full = SliceInference.run(prepared, classifier: classifier(), allowedChannels: channels, channelIDs: ids, batchSize: 2)
            // Random logits leave few pixels decided: the plain softmax unless forced.
            let lazy = SliceInference.run(prepared, classifier: classifier(), allowedChannels: channels, channelIDs: ids, batchSize: 2,
                                          oneHotInterior: transform, minimumDecidedShare: kind == 2 ? 0 : SliceInference.oneHotMinimumDecidedShare)
            if kind == 2 {
                let plain = SliceInference.run(prepared, classifier: classifier(), allowedChannels: channels, channelIDs: ids, batchSize: 2,
                                               oneHotInterior: transform)
                #expect(plain.data.map(\.bitPattern) == full.data.map(\.bitPattern) && plain.verdicts == full.verdicts)
            }
            let verdicts = try #require(lazy.verdicts)
            #expect(verdicts == NativeArgmax.decisions(lazy))
            let ca = ids.count
            var oneHot = 0
            for n in 0..<(lazy.data.count / ca) {
                let l = lazy.data[(n * ca)..<((n + 1) * ca)], f = full.data[(n * ca)..<((n + 1) * ca)]
                if l.map(\.bitPattern) == f.map(\.bitPattern) { continue }
                oneHot += 1
                #expect(verdicts[n] >= 0 && l.filter { $0 == 1 }.count == 1 && l.filter { $0 == 0 }.count == ca - 1 && l[l.startIndex + Int(verdicts[n])] == 1)
            }
            // The oracle's slices are mostly interior; random logits leave few decided pixels.
            if kind == 0 { #expect(oneHot > lazy.data.count / ca / 3) }
            let expected = NativeArgmax.fusedReference(full, window: window, transform: transform).data
            #expect(NativeArgmax.labels(lazy, window: window, transform: transform).data == expected)
            #expect(NativeArgmax.fusedReference(lazy, window: window, transform: transform).data == expected)
            #expect(NativeArgmax.unfusedReference(lazy, window: window, transform: transform).data
                    == NativeArgmax.unfusedReference(full, window: window, transform: transform).data)
            #expect(Set(expected).count >= 5)
        }
    }

    /// The logit gap guarantees the softmax lead it promises, however the rest are spread.
    @Test func logitLeadGuaranteesTwiceTheMargin() {
        for ca in [1, 2, 4, 13, 19, 36] {
            let lead = SliceInference.logitLead(channels: ca)
            #expect(lead > 0 && lead < 0.05)
            // Worst case: all other channels at the runner-up.
            let logits = [Float(lead)] + [Float](repeating: 0, count: max(ca - 1, 0))
            var out = [Float](repeating: 0, count: ca)
            logits.withUnsafeBufferPointer { l in
                out.withUnsafeMutableBufferPointer { o in
                    SliceInference.referenceSoftmax(logits: l.baseAddress!, channels: ca, pixels: 1, allowed: Array(0..<ca), out: o.baseAddress!)
                }
            }
            if ca > 1 { #expect(out[0] - out[1] >= 2 * NativeArgmax.decisiveMargin * 0.999) }
        }
    }

    @Test func decisionsRefuseTiesNaNAndImpossibleValues() {
        let probs = WindowProbabilities(slices: 1, height: 1, width: 5, channelIDs: [0, 1, 2], data: [
            0.2, 0.7, 0.1,           // decided: channel 1
            0.45, 0.45, 0.1,         // tie
            0.5, 0.49995, 0.00005,   // lead 5e-5 < margin
            .nan, 0.9, 0.1,          // NaN
            1.5, -0.5, 0,            // not a probability
        ])
        #expect(NativeArgmax.decisions(probs) == [1, -1, -1, -1, -1])
    }

    /// The whole pipeline on phantoms (straight and oblique) with the oracle, whose output is
    /// confident almost everywhere (the shortcut's normal case), and with a vote that makes
    /// two classes nearly tie everywhere.
    @Test(arguments: [false, true])
    func oraclePipelineEqualsTheReferences(oblique: Bool) throws {
        let phantom = try smallPhantom(.thigh, seed: 5, matrix: [48, 40], slices: 5, oblique: oblique)
        let plan = unionPlan(inputSize: [32, 32], profiles: [.thigh: ResampleProfile(inPlaneSpacing: 1.7, sliceSpacing: 2.5)])
        let oracle = try OracleClassifier(plan: plan, nativeTruth: phantom.labels, profile: plan.regions["thigh"]!.profile)
        let segmenter = try Segmenter(plan: plan, classifier: oracle, catalog: testCatalog)
        let channels = try segmenter.allowedChannels(for: .thigh)
        let ids = channels.map { Int32(plan.outputs[$0].id) }
        // Inference's covering window, and training's plan-size window that crops and pads.
        for policy in [WindowPolicy.covering(maxPixels: 1 << 20), .planSize] {
            let prepared = try Preprocessor.prepare(phantom.image, plan: plan, region: .thigh, window: policy)
            // The profile grid follows the scan's own axes (permuted and flipped), oblique or not.
            #expect(NativeArgmax.alignment(NativeArgmax.indexMap(prepared.transform)) != nil)
            for vote in [nil, (id: ids[2], logit: Float(20) - 1e-4)] as [(id: Int32, logit: Float)?] {
                oracle.vote = vote.map { (Int($0.id), $0.logit) }
                let probs = SliceInference.run(prepared, classifier: oracle, allowedChannels: channels, channelIDs: ids, batchSize: 4)
                let fast = NativeArgmax.labels(probs, window: prepared.window, transform: prepared.transform)
                #expect(fast.data == NativeArgmax.fusedReference(probs, window: prepared.window, transform: prepared.transform).data)
                #expect(fast.data == NativeArgmax.unfusedReference(probs, window: prepared.window, transform: prepared.transform).data)
                #expect(Set(fast.data).count >= 5)
            }
        }
    }

    /// Random labels in many shapes (one row, one slice, one column) and minima, then the
    /// phantom's labels with speckle: `apply` equals `referenceApply`, data and outcome.
    @Test func runLengthIslandRemovalEqualsTheFloodFill() throws {
        var state: UInt64 = 41
        func next() -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(state >> 33)
        }
        let shapes = [[13, 11, 9], [17, 1, 1], [1, 9, 1], [1, 1, 12], [9, 8, 1], [1, 7, 6], [31, 5, 4]]
        for (n, shape) in shapes.enumerated() {
            var v = LabelVolume(grid: Grid(shape: shape, affine: .identity), repeating: 0)
            for o in v.data.indices {
                let r = next() % 32
                v.data[o] = r < 14 ? 0 : r < 24 ? 1 : r < 29 ? 2 : r < 31 ? 3 : -4
            }
            for removal in [IslandRemoval(minimumML: 0.0045), IslandRemoval(minimumML: 0.0025, minimumMLByClass: [2: 0, 3: 0.02]),
                            IslandRemoval(minimumML: 0.012), .off] {
                var fast = v, reference = v
                let a = removal.apply(to: &fast), b = removal.referenceApply(to: &reference)
                #expect(fast.data == reference.data, "shape \(shape) #\(n)")
                #expect(a == b, "shape \(shape) #\(n)")
            }
        }
        // A phantom with speckle: large components, their holes and single voxels.
        let phantom = try smallPhantom(.calf, seed: 9, matrix: [64, 56], slices: 6)
        var v = phantom.labels
        for o in v.data.indices where next() % 50 == 0 { v.data[o] = Int32(next() % 3 == 0 ? 0 : 1 + next() % 30) }
        var fast = v, reference = v
        let removal = IslandRemoval(minimumML: 0.2)
        let a = removal.apply(to: &fast), b = removal.referenceApply(to: &reference)
        #expect(fast.data == reference.data && a == b)
        #expect(fast.data != v.data && (a.components.values.reduce(0, +)) > 10)
    }
}

/// Percentiles by selection against the sorted reference.
@Suite struct PercentileFastPathTests {
    @Test func selectionPercentilesEqualTheSortedOnes() {
        var state: UInt64 = 12
        for (n, spread) in [(1, 5), (2, 5), (9, 3), (1000, 7), (5000, 100_000), (60_000, 4096)] {
            let data = (0..<n).map { _ -> Float in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let r = Int(state >> 40) % spread
                return r % 11 == 0 ? 0 : Float(r) - Float(spread / 4) + 0.5
            }
            for (p, q) in [(0.5, 99.5), (0, 100), (1, 99), (50, 50)] {
                let fast = Preprocessor.percentiles(data, p, q), reference = Preprocessor.referencePercentiles(data, p, q)
                #expect(fast.0 == reference.0 && fast.1 == reference.1, "n \(n) p \(p) q \(q)")
            }
        }
        #expect(Preprocessor.percentiles([0, .nan, .infinity], 1, 99) == (0, 1))
    }

    /// The histogram selection against the sorted sample on every rank kind: negatives and
    /// positives (the key flips the sign's order), values sharing one bucket (a run of near
    /// equal values, exact duplicates), subnormals, extremes, two halves (n ≥ 2^16) and one.
    @Test(arguments: [7, 1000, 70_000])
    func histogramOrderStatisticsEqualTheSortedOnes(n: Int) {
        var state: UInt64 = UInt64(n)
        let sample = (0..<n).map { i -> Float in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let r = Int(state >> 33)
            switch r % 8 {
            case 0: return -Float(r % 5000) / 7 - 1
            case 1: return 1000 + Float(r % 64) / 1024        // one bucket, many values
            case 2: return 3                                  // duplicates
            case 3: return Float.leastNonzeroMagnitude * Float(1 + r % 5) * (i % 2 == 0 ? 1 : -1)
            case 4: return i % 3 == 0 ? Float.greatestFiniteMagnitude : -Float.greatestFiniteMagnitude
            default: return Float(r % 100_000) * 0.37
            }
        }
        let sorted = sample.sorted()
        let ranks = [0, 1, n / 200, n / 200 + 1, n / 2, n - 1 - n / 200, n - 1]
        #expect(Preprocessor.orderStatistics(sample, ranks: ranks).map(\.bitPattern) == ranks.map { sorted[$0].bitPattern })
        #expect(Preprocessor.orderStatistics(sample, ranks: [n - 1, 0]) == [sorted[n - 1], sorted[0]])
    }

    /// Over 2^20 candidates in many parallel chunks: the strided sample (stride 2) and so the
    /// percentiles are the sequential pass's.
    @Test func chunkedStridedSampleEqualsTheSequentialOne() {
        var state: UInt64 = 5
        let data = (0..<2_300_000).map { i -> Float in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let r = Int(state >> 40) % 100_003
            return i % 7 == 0 ? 0 : i % 1009 == 0 ? .nan : Float(r) * 0.37
        }
        #expect(Preprocessor.chunks(data.count) > 1)
        let fast = Preprocessor.percentiles(data, 1, 99), reference = Preprocessor.referencePercentiles(data, 1, 99)
        #expect(fast.0 == reference.0 && fast.1 == reference.1)
    }
}
