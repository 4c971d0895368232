import Dispatch
import Anatomy
import ImagingCore
import Resampling

/// A scan made ready for the network: on its region's profile grid (canonical RAS order, axial
/// slices along the third axis), intensities normalised to [0, 1], with the window that maps
/// each profile slice onto the network's input, and the record to go back.
///
/// Training and inference share this one path (resampling, normalisation, window placement), so
/// a model sees at inference what it was trained on; only the window's size differs
/// (`WindowPolicy`): inference covers the whole profile slice, training batches use the plan's
/// input size.
public struct PreparedScan: Sendable {
    /// Normalised intensities on `transform.targetGrid`.
    public var volume: ImageVolume
    /// Native ↔ profile record (STYLE point 12): labels and probabilities go back through it.
    public var transform: ProfileTransform
    /// Where the network's input window sits on each profile slice.
    public var window: SliceWindow

    /// Number of axial slices (network inputs).
    public var sliceCount: Int { volume.shape[2] }
}

/// How large the network's input window on a profile slice is.
public enum WindowPolicy: Sendable, Equatable {
    /// The plan's `inputSize`, centred: wider slices are cropped. Training only, where every
    /// slice of a batch must have one size and a crop loses training pixels, not a result.
    case planSize
    /// The whole profile slice: each side is the larger of the plan's input size and the slice's
    /// side rounded up to a multiple of 2^depth (the U-Net is fully convolutional), centred, the
    /// rest padded. A window of more than `maxPixels` pixels is refused (`window_too_large`),
    /// never cropped. Inference and validation.
    case covering(maxPixels: Int)

    /// The default limit on window pixels: 640 × 640, which covers a 500 mm field of view at
    /// the design's finest profile (0.78 mm thigh), so any real bilateral scan at any shipped or
    /// design profile.
    public static let defaultMaxPixels = 640 * 640
}

/// The centre crop / zero pad between a profile slice (nx × ny) and the network input (W × H):
/// input pixel (x, y) shows profile voxel (x + offsetX, y + offsetY); outside the slice it is 0.
public struct SliceWindow: Codable, Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var offsetX: Int
    public var offsetY: Int

    /// Centres a `width` × `height` window on an `nx` × `ny` slice (negative offsets pad).
    public init(sliceWidth nx: Int, sliceHeight ny: Int, width: Int, height: Int) {
        self.width = width
        self.height = height
        offsetX = (nx - width) / 2
        offsetY = (ny - height) / 2
    }

    /// The smallest centred window that covers an `nx` × `ny` slice whole: each side the larger
    /// of the minimum and the slice's side rounded up to a multiple of `multiple`.
    public static func covering(sliceWidth nx: Int, sliceHeight ny: Int, minimumWidth: Int, minimumHeight: Int,
                                multiple m: Int) -> SliceWindow {
        precondition(m >= 1, "the window multiple must be positive")
        let up = { (n: Int) in (n + m - 1) / m * m }
        return SliceWindow(sliceWidth: nx, sliceHeight: ny, width: max(minimumWidth, up(nx)), height: max(minimumHeight, up(ny)))
    }

    /// Whether every voxel of an `nx` × `ny` slice lies inside the window (nothing is cropped).
    public func covers(sliceWidth nx: Int, sliceHeight ny: Int) -> Bool {
        offsetX <= 0 && offsetY <= 0 && offsetX + width >= nx && offsetY + height >= ny
    }

    /// Calls `body(windowPixel, profileOffset)` for every window pixel that shows a voxel of slice
    /// `k` of `grid` (`windowPixel` = y · width + x; `profileOffset` the voxel's index in a volume
    /// on `grid`), row by row: the inverse of `extract`, for putting per-pixel results (an argmax,
    /// a target) back on the profile grid. Padding pixels are skipped.
    @inlinable
    public func forEachPlacedPixel(on grid: Grid, slice k: Int, _ body: (_ windowPixel: Int, _ profileOffset: Int) -> Void) {
        let nx = grid.shape[0], ny = grid.shape[1]
        let x0 = max(0, -offsetX), x1 = min(width, nx - offsetX)
        guard x0 < x1 else { return }
        for y in 0..<height {
            let j = y + offsetY
            guard j >= 0, j < ny else { continue }
            let base = grid.offset(offsetX, j, k)  // profile offset of window column 0 (maybe outside)
            for x in x0..<x1 { body(y * width + x, base + x) }
        }
    }

    /// Copies slice `k` of `volume` into `out` (height × width, row-major: `out[y * width + x]`).
    public func extract<T>(_ volume: Volume<T>, slice k: Int, fill: T, into out: UnsafeMutablePointer<T>) {
        let nx = volume.shape[0], ny = volume.shape[1]
        volume.data.withUnsafeBufferPointer { src in
            for y in 0..<height {
                let j = y + offsetY
                let row = out + y * width
                guard j >= 0, j < ny else {
                    row.update(repeating: fill, count: width)
                    continue
                }
                let base = volume.grid.offset(0, j, k)
                for x in 0..<width {
                    let i = x + offsetX
                    row[x] = (i >= 0 && i < nx) ? src[base + i] : fill
                }
            }
        }
    }
}

/// Intensity normalisation and preparation of scans for the network.
public enum Preprocessor {
    /// Prepares `image` (native grid) for `plan`'s `region`, with the input window `window`
    /// says (`input` names the scan in a refusal).
    public static func prepare(_ image: ImageVolume, plan: ModelPlan, region: Region, window policy: WindowPolicy,
                               input: String = "the scan") throws(ImagingError) -> PreparedScan {
        guard let regionPlan = plan.regions[region.rawValue] else {
            throw ImagingError(.regionNotInModel, input: "plan.json",
                               reason: "the model has no plan for region \(region.rawValue) (it covers \(plan.regions.keys.sorted().joined(separator: ", ")))",
                               remedy: "use a model trained for this region, or drop the scan into the right inbox")
        }
        // One binding, so normalising in place never copies the profile volume (a `let` copied
        // into a `var` kept the array shared, and the first write duplicated it).
        var normalised: ImageVolume
        let transform: ProfileTransform
        (normalised, transform) = try toProfile(image, profile: regionPlan.profile, input: input)
        let window = try Self.window(policy, sliceWidth: normalised.shape[0], sliceHeight: normalised.shape[1], plan: plan,
                                     profile: regionPlan.profile, input: input)
        normaliseInPlace(&normalised, regionPlan.normalization)
        return PreparedScan(volume: normalised, transform: transform, window: window)
    }

    /// The input window on an `nx` × `ny` profile slice under `policy`; a covering window over
    /// the limit is refused with `window_too_large`.
    public static func window(_ policy: WindowPolicy, sliceWidth nx: Int, sliceHeight ny: Int, plan: ModelPlan,
                              profile: ResampleProfile, input: String = "the scan") throws(ImagingError) -> SliceWindow {
        switch policy {
        case .planSize:
            return SliceWindow(sliceWidth: nx, sliceHeight: ny, width: plan.inputSize[1], height: plan.inputSize[0])
        case .covering(let maxPixels):
            let w = SliceWindow.covering(sliceWidth: nx, sliceHeight: ny, minimumWidth: plan.inputSize[1], minimumHeight: plan.inputSize[0],
                                         multiple: 1 << plan.architecture.depth)
            guard w.width * w.height <= maxPixels else {
                let mm = { (n: Int) in String(format: "%.0f", Double(n) * profile.inPlaneSpacing) }
                throw ImagingError(.windowTooLarge, input: input,
                                   reason: "its profile slices are \(nx) × \(ny) pixels (\(mm(nx)) × \(mm(ny)) mm at the model's \(profile.inPlaneSpacing) mm), a \(w.width) × \(w.height) network window of \(w.width * w.height) pixels, over the limit of \(maxPixels)",
                                   remedy: "crop the field of view to the limbs or abdomen (one limb per scan for very wide fields), or raise model.max_window_pixels (segvol segment --max-window-pixels) if the machine has the memory")
            }
            return w
        }
    }

    /// Maps intensities to [0, 1] (clipped) as `n` says. Percentiles are taken over the non-zero
    /// voxels (zero is the resampling fill and the air outside most MR fields of view).
    public static func normalise(_ v: ImageVolume, _ n: Normalization) -> ImageVolume {
        var out = v
        normaliseInPlace(&out, n)
        return out
    }

    /// `normalise` in place, chunks of the volume in parallel (each value on its own).
    static func normaliseInPlace(_ v: inout ImageVolume, _ n: Normalization) {
        let lo: Double, hi: Double
        switch n.kind {
        case .window:
            (lo, hi) = (n.low, n.high)
        case .percentile:
            (lo, hi) = percentiles(v.data, n.low, n.high)
        }
        let scale = hi > lo ? Float(1 / (hi - lo)) : 0
        let offset = Float(lo)
        let count = v.data.count, chunks = Self.chunks(count)
        v.data.withUnsafeMutableBufferPointer { buf in
            guard let base = buf.baseAddress else { return }
            let p = SendableBuffer(base: base)
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                for i in (count * c / chunks)..<(count * (c + 1) / chunks) {
                    let x = p.base[i]
                    p.base[i] = x.isFinite ? min(max((x - offset) * scale, 0), 1) : 0
                }
            }
        }
    }

    /// Parallel chunks for a pass over `count` values (about 256 Ki values each, at least one).
    static func chunks(_ count: Int) -> Int { max(1, min(64, count >> 18)) }

    /// The `p`-th and `q`-th percentiles (0…100) of the non-zero finite values, from a
    /// deterministic strided sample of at most 2^20 of them (exact for smaller volumes).
    ///
    /// Candidates are counted per chunk in parallel; each chunk then takes the candidates whose
    /// running index (its chunk's first index from the counts before it) is a multiple of the
    /// stride, so the sample is the sequential one, in order (`referencePercentiles`, tested).
    static func percentiles(_ data: [Float], _ p: Double, _ q: Double) -> (Double, Double) {
        let total = data.count, chunks = Self.chunks(total)
        var counts = [Int](repeating: 0, count: chunks)
        var parts = [[Float]](repeating: [], count: chunks)
        data.withUnsafeBufferPointer { buf in
            guard let base = buf.baseAddress else { return }
            let src = SendableBuffer(base: UnsafeMutablePointer(mutating: base))
            counts.withUnsafeMutableBufferPointer { cnt in
                let c = SendableBuffer(base: cnt.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: chunks) { part in
                    var n = 0
                    for i in (total * part / chunks)..<(total * (part + 1) / chunks) {
                        let x = src.base[i]
                        if x != 0 && x.isFinite { n += 1 }
                    }
                    c.base[part] = n
                }
            }
        }
        let count = counts.reduce(0, +)
        guard count > 0 else { return (0, 1) }
        let stride = max(1, count / (1 << 20))
        var starts = [Int](repeating: 0, count: chunks)
        for part in 1..<max(chunks, 1) { starts[part] = starts[part - 1] + counts[part - 1] }
        let firsts = starts, sizes = counts
        data.withUnsafeBufferPointer { buf in
            let src = SendableBuffer(base: UnsafeMutablePointer(mutating: buf.baseAddress!))
            parts.withUnsafeMutableBufferPointer { out in
                let dst = SendableBuffer(base: out.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: chunks) { part in
                    var n = firsts[part], taken: [Float] = []
                    taken.reserveCapacity(sizes[part] / stride + 1)
                    for i in (total * part / chunks)..<(total * (part + 1) / chunks) {
                        let x = src.base[i]
                        guard x != 0 && x.isFinite else { continue }
                        if n % stride == 0 { taken.append(x) }
                        n += 1
                    }
                    dst.base[part] = taken
                }
            }
        }
        var sample: [Float] = []
        sample.reserveCapacity(count / stride + 1)
        for part in parts { sample += part }
        // The two order statistics around each percentile, from a histogram of the sample's
        // top 16 key bits (`orderKey`: float order as unsigned order): the bucket holding each
        // rank, then only those few buckets' values, by selection. The values equal the sorted sample's
        // (`referencePercentiles`, tested).
        func rank(_ pct: Double) -> (Int, Int, Double) {
            let pos = min(max(pct / 100, 0), 1) * Double(sample.count - 1)
            let i = Int(pos.rounded(.down))
            return (i, min(i + 1, sample.count - 1), pos - Double(i))
        }
        let (pi, pj, pf) = rank(p), (qi, qj, qf) = rank(q)
        let values = orderStatistics(sample, ranks: [pi, pj, qi, qj])
        func at(_ a: Float, _ b: Float, _ f: Double) -> Double { Double(a) + (Double(b) - Double(a)) * f }
        return (at(values[0], values[1], pf), at(values[2], values[3], qf))
    }

    /// A key whose unsigned order is the float order of non-NaN values (equal values, equal
    /// keys; -0 below +0, which never meet here: zeros are not candidates).
    @inline(__always) static func orderKey(_ x: Float) -> UInt32 {
        let b = x.bitPattern
        return b & 0x8000_0000 != 0 ? ~b : b | 0x8000_0000
    }

    /// The `ranks`-th smallest values (0-based) of `sample` (no NaN): a 2^16-bucket histogram
    /// of the keys' top bits (two halves in parallel), the bucket and offset of each rank, then
    /// only the values of those buckets, by selection. Equals `sample.sorted()[rank]` for each rank.
    static func orderStatistics(_ sample: [Float], ranks: [Int]) -> [Float] {
        let n = sample.count, buckets = 1 << 16, halves = n >= 1 << 16 ? 2 : 1
        precondition(ranks.allSatisfy { $0 >= 0 && $0 < n }, "orderStatistics: rank out of range")
        var histogram = [Int32](repeating: 0, count: halves * buckets)
        sample.withUnsafeBufferPointer { src in
            histogram.withUnsafeMutableBufferPointer { h in
                let s = SendableBuffer(base: UnsafeMutablePointer(mutating: src.baseAddress!))
                let hp = SendableBuffer(base: h.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: halves) { part in
                    let counts = hp.base + part * buckets
                    for i in (n * part / halves)..<(n * (part + 1) / halves) { counts[Int(orderKey(s.base[i]) >> 16)] += 1 }
                }
            }
        }
        // Bucket of each rank and the number of values in the buckets below it.
        var located: [(bucket: Int, below: Int)] = []
        for r in ranks {
            var below = 0, b = 0
            while true {
                var c = 0
                for part in 0..<halves { c += Int(histogram[part * buckets + b]) }
                if r < below + c { break }
                below += c
                b += 1
            }
            located.append((b, below))
        }
        // Slot of each wanted bucket (-1: not wanted), then those buckets' values.
        var slot = [Int8](repeating: -1, count: buckets)
        var wanted: [Int] = []
        for l in located where slot[l.bucket] < 0 {
            slot[l.bucket] = Int8(wanted.count)
            wanted.append(l.bucket)
        }
        var members = [[Float]](repeating: [], count: wanted.count)
        for (w, b) in wanted.enumerated() {
            var c = 0
            for part in 0..<halves { c += Int(histogram[part * buckets + b]) }
            members[w].reserveCapacity(c)
        }
        slot.withUnsafeBufferPointer { sl in
            for x in sample {
                let w = Int(sl[Int(orderKey(x) >> 16)])
                if w >= 0 { members[w].append(x) }
            }
        }
        return zip(ranks, located).map { r, l in
            Selection.select(&members[Int(slot[l.bucket])], r - l.below)
        }
    }
}

extension Preprocessor {
    /// The reference twin of `percentiles`: the same sample, fully sorted.
    static func referencePercentiles(_ data: [Float], _ p: Double, _ q: Double) -> (Double, Double) {
        let candidates = data.lazy.filter { $0 != 0 && $0.isFinite }
        var sample: [Float] = []
        let count = candidates.count
        guard count > 0 else { return (0, 1) }
        let stride = max(1, count / (1 << 20))
        var n = 0
        for x in candidates {
            if n % stride == 0 { sample.append(x) }
            n += 1
        }
        sample.sort()
        func at(_ pct: Double) -> Double {
            let pos = min(max(pct / 100, 0), 1) * Double(sample.count - 1)
            let i = Int(pos.rounded(.down)), f = pos - Double(i)
            let a = Double(sample[i]), b = Double(sample[min(i + 1, sample.count - 1)])
            return a + (b - a) * f
        }
        return (at(p), at(q))
    }
}

extension ImagingError.Code {
    /// The model has no plan for the scan's region.
    public static let regionNotInModel = Self("region_not_in_model")
    /// A profile slice needs a larger network window than the configured limit allows.
    public static let windowTooLarge = Self("window_too_large")
}
