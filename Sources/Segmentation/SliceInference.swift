import Dispatch
import ImagingCore
import Resampling

/// The region-restricted class probabilities of every profile slice inside the network's input
/// window, channel-last so the trilinear corners of one voxel are contiguous runs.
///
/// Only the window is stored (profile voxels outside it were never seen by the network and are
/// certain background); only the allowed channels are stored (background first).
public struct WindowProbabilities: Sendable {
    /// Profile slices (nz), window height (H) and width (W).
    public var slices: Int
    public var height: Int
    public var width: Int
    /// Catalog id of each stored channel; `channelIDs[0] == 0` (background).
    public var channelIDs: [Int32]
    /// (nz, H, W, Ca): slice k, window pixel (x, y), channel a at `((k * H + y) * W + x) * Ca + a`.
    /// From `SliceInference.run(…, oneHotInterior:)`, pixels deep inside a region decided for
    /// one channel hold that channel one-hot instead of their softmax (the labels are the same,
    /// see `settleInterior`). Setting it drops `verdicts` (they described the former values).
    public var data: [Float] { didSet { verdicts = nil } }
    /// `NativeArgmax.decisions(self)` when the producer computed them with the values
    /// (`SliceInference.run` does, in its softmax pass, while each pixel is in cache); nil
    /// otherwise, and `NativeArgmax.labels` computes them.
    public internal(set) var verdicts: [Int16]?

    public var channelCount: Int { channelIDs.count }

    public init(slices: Int, height: Int, width: Int, channelIDs: [Int32], data: [Float]) {
        precondition(channelIDs.first == 0, "channel 0 must be background")
        precondition(data.count == slices * height * width * channelIDs.count, "probability buffer has the wrong size")
        self.slices = slices
        self.height = height
        self.width = width
        self.channelIDs = channelIDs
        self.data = data
        verdicts = nil
    }

    /// With the verdicts of `data` (`NativeArgmax.decisions`), as the producer computed them.
    init(slices: Int, height: Int, width: Int, channelIDs: [Int32], data: [Float], verdicts: [Int16]) {
        precondition(verdicts.count == slices * height * width, "verdict buffer has the wrong size")
        self.init(slices: slices, height: height, width: width, channelIDs: channelIDs, data: data)
        self.verdicts = verdicts
    }
}

/// Slice-wise inference: batches of window slices through a `SliceClassifier`, then a softmax
/// over the allowed channels only (`softmax(z)_a = exp(z_a) / Σ_{b allowed} exp(z_b)`), which is
/// the full softmax renormalised over the allowed classes: a class outside the scan's region
/// never receives probability.
public enum SliceInference {
    /// Runs `classifier` on every slice of `scan`, `batchSize` slices at a time.
    /// - Parameter allowedChannels: output channels to keep, background (channel 0) first.
    /// - Parameter channelIDs: catalog id of each allowed channel.
    /// - Parameter oneHotInterior: the transform the probabilities go back through
    ///   (`NativeArgmax.labels`); when given, pixels deep inside a decided region are stored
    ///   one-hot instead of computing their softmax (`settleInterior`: no label can change),
    ///   when the first batch leaves at least `oneHotMinimumDecidedShare` of its pixels decided.
    public static func run(_ scan: PreparedScan, classifier: any SliceClassifier, allowedChannels: [Int],
                           channelIDs: [Int32], batchSize: Int, oneHotInterior transform: ProfileTransform? = nil) -> WindowProbabilities {
        run(scan, classifier: classifier, allowedChannels: allowedChannels, channelIDs: channelIDs, batchSize: batchSize,
            oneHotInterior: transform, minimumDecidedShare: oneHotMinimumDecidedShare)
    }

    /// `run` with the decided share that the one-hot interior needs (tests force it with 0).
    static func run(_ scan: PreparedScan, classifier: any SliceClassifier, allowedChannels: [Int], channelIDs: [Int32], batchSize: Int,
                    oneHotInterior transform: ProfileTransform?, minimumDecidedShare: Double) -> WindowProbabilities {
        precondition(batchSize >= 1, "batch size must be at least 1")
        precondition(allowedChannels.first == 0 && allowedChannels.count == channelIDs.count, "background must come first")
        let window = scan.window
        let h = window.height, w = window.width, hw = h * w
        let nz = scan.sliceCount, c = classifier.channelCount, ca = allowedChannels.count
        precondition(allowedChannels.allSatisfy { $0 >= 0 && $0 < c }, "allowed channel out of range")
        precondition(ca < Int(Int16.max), "too many channels for the verdicts")
        var input = [Float](repeating: 0, count: batchSize * hw)       // (N, 1, H, W)
        var logits = [Float](repeating: 0, count: batchSize * c * hw)  // (N, C, H, W)
        // Neither is zero-filled first: the softmax of every slice writes each of its hw · ca
        // values and hw verdicts.
        var verdicts = [Int16](unsafeUninitializedCapacity: nz * hw) { _, count in count = nz * hw }
        let out = [Float](unsafeUninitializedCapacity: nz * hw * ca) { dst, count in
            verdicts.withUnsafeMutableBufferPointer { vd in
                var start = 0
                // One-hot interior pays a gathering pass and a second pass over the slices; it
                // is taken when the first batch's logits leave most pixels decided (a trained
                // network), not for flat ones (random weights), where it would only cost.
                var lazy: Bool?
                while start < nz {
                    let n = min(batchSize, nz - start)
                    input.withUnsafeMutableBufferPointer { buf in
                        for b in 0..<n { window.extract(scan.volume, slice: start + b, fill: 0, into: buf.baseAddress! + b * hw) }
                    }
                    input.withUnsafeBufferPointer { inBuf in
                        logits.withUnsafeMutableBufferPointer { outBuf in
                            let batch = SliceBatch(input: UnsafeBufferPointer(rebasing: inBuf[0..<(n * hw)]), slices: start..<(start + n), window: window)
                            classifier.classify(batch, into: UnsafeMutableBufferPointer(rebasing: outBuf[0..<(n * c * hw)]))
                        }
                    }
                    logits.withUnsafeBufferPointer { lg in
                        let src = SendableBuffer(base: UnsafeMutablePointer(mutating: lg.baseAddress!))
                        let d = SendableBuffer(base: dst.baseAddress!)
                        let v = SendableBuffer(base: vd.baseAddress!)
                        let first = start
                        // Bands of rows, so that two cores share a batch of one slice too.
                        let bands = max(1, min(8, hw / 4096))
                        let lead = logitLead(channels: ca)
                        if lazy == nil {
                            lazy = transform != nil
                                && decidedShare(UnsafePointer(src.base), slices: n, channels: c, pixels: hw, allowed: allowedChannels, lead: lead)
                                    >= minimumDecidedShare
                        }
                        let lazy = lazy!
                        DispatchQueue.concurrentPerform(iterations: n * bands) { job in
                            let b = job / bands, band = job % bands
                            let lo = hw * band / bands, hi = hw * (band + 1) / bands
                            if lazy {
                                gatherLogits(UnsafePointer(src.base) + b * c * hw + lo, planeStride: hw, pixels: hi - lo, allowed: allowedChannels,
                                             lead: lead, out: d.base + ((first + b) * hw + lo) * ca, verdicts: v.base + (first + b) * hw + lo)
                                return
                            }
                            restrictedSoftmax(logits: UnsafePointer(src.base) + b * c * hw + lo, channels: c, planeStride: hw, pixels: hi - lo,
                                              allowed: allowedChannels, out: d.base + ((first + b) * hw + lo) * ca,
                                              verdicts: v.base + (first + b) * hw + lo)
                        }
                    }
                    start += n
                }
                if let transform, lazy == true {
                    settleInterior(dst.baseAddress!, verdicts: vd.baseAddress!, slices: nz, window: window, channels: ca,
                                   pairs: NativeArgmax.slicePairsInterpolated(transform))
                }
            }
            count = nz * hw * ca
        }
        return WindowProbabilities(slices: nz, height: h, width: w, channelIDs: channelIDs, data: out, verdicts: verdicts)
    }

    /// Softmax of one image's logits (C, HW) over the `allowed` channels, written channel-last
    /// (HW, Ca). Subtracts the per-pixel maximum first (no overflow).
    static func restrictedSoftmax(logits: UnsafePointer<Float>, channels c: Int, pixels hw: Int, allowed: [Int],
                                  out: UnsafeMutablePointer<Float>) {
        restrictedSoftmax(logits: logits, channels: c, planeStride: hw, pixels: hw, allowed: allowed, out: out, verdicts: nil)
    }

    /// The softmax of `pixels` pixels whose channel `a` lies at `logits + a * planeStride`,
    /// written channel-last, with each pixel's `NativeArgmax.verdict` of the written values
    /// when `verdicts` is given. Per pixel the operations and their order are
    /// `referenceSoftmax`'s (maximum over the allowed logits in order, `expf` of each minus it,
    /// the sum in channel order, one reciprocal, products), so the values are bit for bit the
    /// same (tested); the pixels go in blocks of 64, channel by channel, so that every logit
    /// plane is read forwards and the max, sum and product loops vectorise across pixels.
    static func restrictedSoftmax(logits: UnsafePointer<Float>, channels c: Int, planeStride: Int, pixels hw: Int, allowed: [Int],
                                  out: UnsafeMutablePointer<Float>, verdicts: UnsafeMutablePointer<Int16>?) {
        let ca = allowed.count, block = 64
        allowed.withUnsafeBufferPointer { al in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * block) { scratch in
                let mx = scratch.baseAddress!, sum = mx + block
                var p0 = 0
                while p0 < hw {
                    let n = min(block, hw - p0)
                    for i in 0..<n { mx[i] = -Float.infinity }
                    for a in 0..<ca {
                        let row = logits + al[a] * planeStride + p0
                        for i in 0..<n { mx[i] = max(mx[i], row[i]) }
                    }
                    for i in 0..<n { sum[i] = 0 }
                    let o = out + p0 * ca
                    for a in 0..<ca {
                        let row = logits + al[a] * planeStride + p0
                        for i in 0..<n {
                            let e = expf(row[i] - mx[i])
                            o[i * ca + a] = e
                            sum[i] += e
                        }
                    }
                    for i in 0..<n {
                        let inv = 1 / sum[i]
                        let q = o + i * ca
                        for a in 0..<ca { q[a] *= inv }
                        if let verdicts { verdicts[p0 + i] = NativeArgmax.verdict(UnsafePointer(q), channels: ca) }
                    }
                    p0 += n
                }
            }
        }
    }

    /// The reference twin of `restrictedSoftmax`: pixel by pixel, channel by channel.
    static func referenceSoftmax(logits: UnsafePointer<Float>, channels c: Int, pixels hw: Int, allowed: [Int],
                                 out: UnsafeMutablePointer<Float>) {
        let ca = allowed.count
        for p in 0..<hw {
            var mx = -Float.infinity
            for a in 0..<ca { mx = max(mx, logits[allowed[a] * hw + p]) }
            var sum: Float = 0
            let o = out + p * ca
            for a in 0..<ca {
                let e = expf(logits[allowed[a] * hw + p] - mx)
                o[a] = e
                sum += e
            }
            let inv = 1 / sum
            for a in 0..<ca { o[a] *= inv }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
