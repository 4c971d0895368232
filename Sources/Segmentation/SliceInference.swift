import Dispatch
import ImagingCore

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
    public var data: [Float]

    public var channelCount: Int { channelIDs.count }

    public init(slices: Int, height: Int, width: Int, channelIDs: [Int32], data: [Float]) {
        precondition(channelIDs.first == 0, "channel 0 must be background")
        precondition(data.count == slices * height * width * channelIDs.count, "probability buffer has the wrong size")
        self.slices = slices
        self.height = height
        self.width = width
        self.channelIDs = channelIDs
        self.data = data
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
    public static func run(_ scan: PreparedScan, classifier: any SliceClassifier, allowedChannels: [Int],
                           channelIDs: [Int32], batchSize: Int) -> WindowProbabilities {
        precondition(batchSize >= 1, "batch size must be at least 1")
        precondition(allowedChannels.first == 0 && allowedChannels.count == channelIDs.count, "background must come first")
        let window = scan.window
        let h = window.height, w = window.width, hw = h * w
        let nz = scan.sliceCount, c = classifier.channelCount, ca = allowedChannels.count
        precondition(allowedChannels.allSatisfy { $0 >= 0 && $0 < c }, "allowed channel out of range")
        var input = [Float](repeating: 0, count: batchSize * hw)       // (N, 1, H, W)
        var logits = [Float](repeating: 0, count: batchSize * c * hw)  // (N, C, H, W)
        // Not zero-filled first: the softmax of every slice writes each of its hw · ca values.
        let out = [Float](unsafeUninitializedCapacity: nz * hw * ca) { dst, count in
            var start = 0
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
                    let first = start
                    DispatchQueue.concurrentPerform(iterations: n) { b in
                        restrictedSoftmax(logits: UnsafePointer(src.base) + b * c * hw, channels: c, pixels: hw,
                                          allowed: allowedChannels, out: d.base + (first + b) * hw * ca)
                    }
                }
                start += n
            }
            count = nz * hw * ca
        }
        return WindowProbabilities(slices: nz, height: h, width: w, channelIDs: channelIDs, data: out)
    }

    /// Softmax of one image's logits (C, HW) over the `allowed` channels, written channel-last
    /// (HW, Ca). Subtracts the per-pixel maximum first (no overflow).
    static func restrictedSoftmax(logits: UnsafePointer<Float>, channels c: Int, pixels hw: Int, allowed: [Int],
                                  out: UnsafeMutablePointer<Float>) {
        let ca = allowed.count
        allowed.withUnsafeBufferPointer { al in
            for p in 0..<hw {
                var mx = -Float.infinity
                for a in 0..<ca { mx = max(mx, logits[al[a] * hw + p]) }
                var sum: Float = 0
                let o = out + p * ca
                for a in 0..<ca {
                    let e = expf(logits[al[a] * hw + p] - mx)
                    o[a] = e
                    sum += e
                }
                let inv = 1 / sum
                for a in 0..<ca { o[a] *= inv }
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
