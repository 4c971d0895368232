import Anatomy
import NeuralEngine

/// How mini-batches are drawn.
public struct SamplerOptions: Codable, Sendable, Equatable {
    /// Slices per batch.
    public var batchSize: Int = 8
    /// Share of slices with some foreground target; the rest have none (when a dataset lacks one
    /// kind, the other is used).
    public var foregroundFraction: Double = 0.5
    /// On-the-fly augmentation (`Augmentation`); off gives the prepared slices unchanged.
    public var augmentation = Augmentation()

    public init(batchSize: Int = 8, foregroundFraction: Double = 0.5, augmentation: Augmentation = Augmentation()) {
        self.batchSize = batchSize
        self.foregroundFraction = foregroundFraction
        self.augmentation = augmentation
    }
}

/// One mini-batch, ready for `UNet.trainStep`.
public struct Batch: Sendable {
    /// (N, 1, H, W)
    public var images: [Float]
    /// (N, H, W)
    public var targets: [Int32]
    /// N entries.
    public var info: [ImageLabelInfo]
    /// Per image: the case index, slice and source dataset it came from.
    public var sources: [(caseIndex: Int, slice: Int, dataset: String, foreground: Bool)]
    public var count: Int { info.count }
}

/// Draws mini-batches stratified by source dataset in constant proportion, with a fixed share
/// of foreground slices, deterministically: the batch of step `s` is a function of the seed, `s`
/// and the cases only (not of earlier draws), so a resumed run draws what an uninterrupted
/// run would have.
///
/// Slot j of step s is the g-th draw overall, g = s·B + j. It goes to dataset g mod D (datasets
/// in name order, so each gets 1/D of all slices and every batch the same share up to one
/// slice), and is that dataset's n-th draw, n = g div D; the draw takes a foreground slice when
/// floor((n+1)·f) > floor(n·f), so exactly a fraction f of every dataset's draws are foreground
/// over time (f = ½ alternates). The slice within the pool, and the augmentation, come from a
/// generator seeded by (seed, s, j).
public struct BatchSampler: Sendable {
    public let options: SamplerOptions
    public let seed: UInt64
    /// Dataset names in sampling order.
    public let datasets: [String]
    let cases: [PreparedCase]
    /// Per dataset: (case, slice) pairs with and without foreground.
    let foreground: [[(Int, Int)]]
    let background: [[(Int, Int)]]
    /// Per dataset and pool, the running sums of the slices' case weights (empty: uniform).
    let foregroundCumulative: [[Double]]
    let backgroundCumulative: [[Double]]
    let height: Int, width: Int

    /// Batches are `inputSize` (height, width: the plan's input size); without it, the size all
    /// `cases` share. A case whose window is larger (a profile slice wider than the input, e.g.
    /// a bilateral scan, prepared `.covering`) gives a crop of that size at a random place on its
    /// window, drawn per slot, so every part of a wide slice is trained on; a case of exactly
    /// that size draws nothing extra. `weights` (one per case, > 0; nil or all 1: uniform) make
    /// a case's slices that much more likely within its dataset's pool (site retraining weights
    /// new cases up); the dataset shares do not change.
    public init(cases: [PreparedCase], options: SamplerOptions, seed: UInt64, weights: [Double]? = nil,
                inputSize: (height: Int, width: Int)? = nil) {
        precondition(!cases.isEmpty, "BatchSampler needs at least one case")
        precondition(options.batchSize >= 1 && (0...1).contains(options.foregroundFraction))
        self.cases = cases
        self.options = options
        self.seed = seed
        let (h, w) = inputSize ?? (cases[0].window.height, cases[0].window.width)
        if inputSize == nil {
            precondition(cases.allSatisfy { $0.window.height == h && $0.window.width == w }, "cases differ in input size")
        } else {
            precondition(cases.allSatisfy { $0.window.height >= h && $0.window.width >= w }, "a case's window is smaller than the input size")
        }
        height = h
        width = w
        let names = Array(Set(cases.map(\.dataset))).sorted()
        datasets = names
        var fg = [[(Int, Int)]](repeating: [], count: names.count)
        var bg = fg
        for (ci, c) in cases.enumerated() {
            let d = names.firstIndex(of: c.dataset)!
            for k in 0..<c.sliceCount {
                if c.hasForeground[k] { fg[d].append((ci, k)) } else { bg[d].append((ci, k)) }
            }
        }
        foreground = fg
        background = bg
        if let weights, weights.contains(where: { $0 != 1 }) {
            precondition(weights.count == cases.count && weights.allSatisfy { $0 > 0 }, "one positive weight per case")
            func sums(_ pools: [[(Int, Int)]]) -> [[Double]] {
                pools.map { pool in
                    var total = 0.0
                    return pool.map { total += weights[$0.0]; return total }
                }
            }
            foregroundCumulative = sums(fg)
            backgroundCumulative = sums(bg)
        } else {
            foregroundCumulative = []
            backgroundCumulative = []
        }
    }

    /// Index into a pool: uniform, or by the cumulative weights.
    func pick(_ count: Int, cumulative: [Double]?, rng: inout SeededGenerator) -> Int {
        guard let cumulative, let total = cumulative.last else { return Int(rng.next() % UInt64(count)) }
        let u = Double(rng.next() >> 11) / Double(1 << 53) * total
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] > u { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    /// The dataset index and foreground wish of slot `j` at `step` (the stratification rule).
    public func plan(step: Int, slot j: Int) -> (dataset: Int, foreground: Bool) {
        let g = step * options.batchSize + j
        let d = g % datasets.count, n = g / datasets.count
        let f = options.foregroundFraction
        let wantsForeground = (Double(n + 1) * f).rounded(.down) > (Double(n) * f).rounded(.down)
        return (d, wantsForeground)
    }

    /// The batch of `step`.
    public func batch(step: Int) -> Batch {
        let b = options.batchSize, hw = height * width
        var images = [Float](repeating: 0, count: b * hw)
        var targets = [Int32](repeating: 0, count: b * hw)
        var info: [ImageLabelInfo] = []
        var sources: [(caseIndex: Int, slice: Int, dataset: String, foreground: Bool)] = []
        for j in 0..<b {
            var rng = SeededGenerator(seed: mix(seed, UInt64(step), UInt64(j)))
            let (d, wantsForeground) = plan(step: step, slot: j)
            let fgPool = foreground[d], bgPool = background[d]
            let useForeground = (wantsForeground && !fgPool.isEmpty) || bgPool.isEmpty
            let pool = useForeground ? fgPool : bgPool
            let cumulative = foregroundCumulative.isEmpty ? nil : (useForeground ? foregroundCumulative[d] : backgroundCumulative[d])
            let (ci, k) = pool[pick(pool.count, cumulative: cumulative, rng: &rng)]
            let c = cases[ci]
            let (sliceImage, sliceTarget) = crop(c, slice: k, rng: &rng)
            images.withUnsafeMutableBufferPointer { img in
                targets.withUnsafeMutableBufferPointer { tgt in
                    sliceImage.withUnsafeBufferPointer { srcImg in
                        sliceTarget.withUnsafeBufferPointer { srcTgt in
                            options.augmentation.apply(
                                image: srcImg.baseAddress!, target: srcTgt.baseAddress!,
                                outImage: img.baseAddress! + j * hw, outTarget: tgt.baseAddress! + j * hw,
                                height: height, width: width, region: c.region, rng: &rng)
                        }
                    }
                }
            }
            info.append(c.info)
            sources.append((ci, k, c.dataset, c.hasForeground[k]))
        }
        return Batch(images: images, targets: targets, info: info, sources: sources)
    }

    /// Slice `k` of case `c` at the batch size: the slice itself when the case's window is that
    /// size, else a crop at a place drawn uniformly over the window (row, then column offset).
    func crop(_ c: PreparedCase, slice k: Int, rng: inout SeededGenerator) -> ([Float], [Int32]) {
        let (ch, cw) = (c.window.height, c.window.width), chw = ch * cw
        guard ch != height || cw != width else {
            return (Array(c.images[(k * chw)..<((k + 1) * chw)]), Array(c.targets[(k * chw)..<((k + 1) * chw)]))
        }
        let oy = Int(rng.next() % UInt64(ch - height + 1)), ox = Int(rng.next() % UInt64(cw - width + 1))
        var image = [Float](repeating: 0, count: height * width), target = [Int32](repeating: 0, count: height * width)
        for y in 0..<height {
            let from = k * chw + (oy + y) * cw + ox
            for x in 0..<width {
                image[y * width + x] = c.images[from + x]
                target[y * width + x] = c.targets[from + x]
            }
        }
        return (image, target)
    }
}

/// A 64-bit mix of three words (SplitMix64 finaliser on a combination), for per-draw seeds.
func mix(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64 {
    var z = a &+ 0x9E37_79B9_7F4A_7C15 &* (b &+ 1) &+ 0xC2B2_AE3D_27D4_EB4F &* (c &+ 1)
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
