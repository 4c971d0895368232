#if canImport(Glibc)
import Glibc
#endif

/// The shape of an NCHW tensor.
public struct TensorShape: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var n: Int, c: Int, h: Int, w: Int
    public init(n: Int, c: Int, h: Int, w: Int) {
        self.n = n
        self.c = c
        self.h = h
        self.w = w
    }
    /// Number of elements, N*C*H*W.
    public var count: Int { n * c * h * w }
    public var description: String { "(\(n), \(c), \(h), \(w))" }
}

/// What a loss may know about one image besides its label map. Partial-label losses
/// (`Losses/`, docs/losses.md) read which classes were annotated and which target values stand
/// for sets of channels; cross-entropy ignores it.
public struct ImageLabelInfo: Sendable, Equatable {
    /// `annotated[c]` is true when class c was labelled in this image; nil means all classes.
    /// Channel 0 is background: see `ImageLabelInfo.partial` for its presence convention.
    public var annotated: [Bool]?
    /// Super labels: a target value `C + j` (C = number of output channels) stands for the set of
    /// channels `superLabels[j]` ("the pixel is one of these classes"). Empty: none.
    public var superLabels: [[Int]]
    public init(annotated: [Bool]? = nil, superLabels: [[Int]] = []) {
        self.annotated = annotated
        self.superLabels = superLabels
    }
}

/// A segmentation loss: from logits and an integer label map, the scalar loss and dL/dlogits.
public protocol SegmentationLoss {
    /// Returns the loss and overwrites `dlogits` with its gradient.
    /// - logits, dlogits: (N, C, H, W); target: (N, H, W) class indices; info: N entries.
    func loss(
        logits: UnsafePointer<Float>, target: UnsafePointer<Int32>, info: [ImageLabelInfo],
        shape: TensorShape, dlogits: UnsafeMutablePointer<Float>
    ) -> Double
}

/// Cross-entropy from logits with a numerically stable log-softmax over channels, averaged over
/// the labelled pixels (PyTorch `F.cross_entropy(..., reduction="mean", ignore_index=...)`).
public struct CrossEntropyLoss: SegmentationLoss, Sendable {
    /// Pixels with this label contribute neither loss nor gradient.
    public var ignoreIndex: Int32

    public init(ignoreIndex: Int32 = -1) { self.ignoreIndex = ignoreIndex }

    public func loss(
        logits: UnsafePointer<Float>, target: UnsafePointer<Int32>, info: [ImageLabelInfo],
        shape: TensorShape, dlogits: UnsafeMutablePointer<Float>
    ) -> Double {
        let c = shape.c, hw = shape.h * shape.w
        var labelled = 0
        for i in 0..<(shape.n * hw) where target[i] != ignoreIndex {
            precondition(target[i] >= 0 && Int(target[i]) < c, "label \(target[i]) outside 0..<\(c)")
            labelled += 1
        }
        guard labelled > 0 else {
            dlogits.update(repeating: 0, count: shape.count)
            return 0
        }
        let inv = 1 / Float(labelled)
        let ignore = ignoreIndex
        // Images are the work items (the engine's workers); each writes its own dlogits and its
        // own loss sum, added in image order (the same total for any worker count).
        let total = withUnsafeTemporaryAllocation(of: Double.self, capacity: shape.n) { sums in
            parallelFor(shape.n, workers: EngineThreads.threadCount) { b, _ in
                let x = logits + b * c * hw
                let dx = dlogits + b * c * hw
                var imageTotal = 0.0
                for p in 0..<hw {
                    let t = target[b * hw + p]
                    if t == ignore {
                        for ch in 0..<c { dx[ch * hw + p] = 0 }
                        continue
                    }
                    var mx = -Float.infinity
                    for ch in 0..<c { mx = max(mx, x[ch * hw + p]) }
                    var sum: Float = 0
                    for ch in 0..<c {
                        let e = expf(x[ch * hw + p] - mx)
                        dx[ch * hw + p] = e
                        sum += e
                    }
                    // -log softmax[t] = (logsumexp - x_t); dL/dx = softmax / labelled, minus 1/labelled at t
                    imageTotal += Double(logf(sum) + mx - x[Int(t) * hw + p])
                    let scale = inv / sum
                    for ch in 0..<c { dx[ch * hw + p] *= scale }
                    dx[Int(t) * hw + p] -= inv
                }
                sums[b] = imageTotal
            }
            var total = 0.0
            for b in 0..<shape.n { total += sums[b] }
            return total
        }
        return total / Double(labelled)
    }
}
