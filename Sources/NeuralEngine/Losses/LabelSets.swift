#if canImport(Glibc)
import Glibc
#endif

/// Per-image label metadata resolved into the tables the partial-label losses read.
///
/// Conventions (docs/losses.md, "Per-image metadata"):
/// - channel 0 is background;
/// - a target value v < C is the class v; v = C + j is the super label `superLabels[j]` (a set of
///   channels); the loss's `ignoreIndex` (default −1) marks pixels that count nowhere;
/// - presence `k[c]` is `annotated[c]` (all true when nil). Background's presence is part of the
///   array: in a partially labelled image "background" only means "none of the annotated classes",
///   so `partial(...)` sets k[0] = 1 only when every foreground channel is annotated.
extension ImageLabelInfo {
    /// A partially labelled image: the given foreground channels are annotated; background
    /// (channel 0) counts as annotated only when every foreground channel is.
    public static func partial(
        channels: Int, annotatedForeground: some Sequence<Int>, superLabels: [[Int]] = []
    ) -> ImageLabelInfo {
        var k = [Bool](repeating: false, count: channels)
        for c in annotatedForeground {
            precondition(c >= 1 && c < channels, "annotated foreground channel \(c) outside 1..<\(channels)")
            k[c] = true
        }
        k[0] = k.dropFirst().allSatisfy { $0 }
        return ImageLabelInfo(annotated: k, superLabels: superLabels)
    }

    /// Presence k[c] for `channels` output channels (all true when `annotated` is nil).
    public func presence(channels: Int) -> [Bool] {
        guard let annotated else { return [Bool](repeating: true, count: channels) }
        precondition(annotated.count == channels, "presence has \(annotated.count) entries for \(channels) channels")
        return annotated
    }

    /// The channels target value `v` stands for: `[v]` for a class, `superLabels[v - C]` for a
    /// super label.
    public func channelSet(forTarget v: Int32, channels: Int) -> [Int] {
        let v = Int(v)
        precondition(v >= 0 && v < channels + superLabels.count,
                     "target \(v) outside 0..<\(channels + superLabels.count) (\(channels) channels, \(superLabels.count) super labels)")
        return v < channels ? [v] : superLabels[v - channels]
    }
}

/// One image's label tables: for every target value v, the set S_v of channels it allows, as a
/// membership row; plus presence and the unannotated foreground channels.
struct LabelTable {
    /// Number of output channels C.
    let channels: Int
    /// Number of target values: C + number of super labels.
    let values: Int
    /// k[c], as 0/1.
    let presence: [Double]
    /// member[v * C + c]: c ∈ S_v.
    private(set) var member: [Bool]
    /// True when S_v has more than one channel (or v is a super label).
    private(set) var isSet: [Bool]
    /// Foreground channels (≥ 1) with k[c] = 0: the classes this image does not annotate.
    let unannotated: [Int]

    /// - marginal: background's row becomes B = {0} ∪ unannotated (Shi et al.'s merged label).
    init(_ info: ImageLabelInfo, channels c: Int, marginal: Bool = false) {
        channels = c
        let k = info.presence(channels: c)
        presence = k.map { $0 ? 1 : 0 }
        unannotated = (1..<max(c, 1)).filter { !k[$0] }
        values = c + info.superLabels.count
        member = [Bool](repeating: false, count: values * c)
        isSet = [Bool](repeating: false, count: values)
        for v in 0..<c { member[v * c + v] = true }
        for (j, set) in info.superLabels.enumerated() {
            precondition(!set.isEmpty, "super label \(c + j) has no channels")
            for l in set {
                precondition(l >= 0 && l < c, "super label \(c + j) names channel \(l) outside 0..<\(c)")
                member[(c + j) * c + l] = true
            }
            isSet[c + j] = true
        }
        if marginal && !unannotated.isEmpty {
            for l in unannotated { member[l] = true }  // row 0
            isSet[0] = true
        }
    }

    /// The row index of a target value (traps on a value outside the table).
    @inline(__always) func row(_ t: Int32) -> Int {
        let v = Int(t)
        precondition(v >= 0 && v < values, "target \(v) outside 0..<\(values) (\(channels) channels + super labels)")
        return v
    }

    @inline(__always) func contains(_ v: Int, _ l: Int) -> Bool { member[v * channels + l] }

    /// Channels of S_v.
    func set(_ v: Int) -> [Int] { (0..<channels).filter { member[v * channels + $0] } }
}

/// Builds one table per image, checking the batch shape.
func labelTables(_ info: [ImageLabelInfo], shape: TensorShape, marginal: Bool = false) -> [LabelTable] {
    precondition(info.count == shape.n, "\(info.count) ImageLabelInfo for a batch of \(shape.n)")
    return info.map { LabelTable($0, channels: shape.c, marginal: marginal) }
}

// MARK: Per-pixel softmax helpers (Double inside, logits strided by H*W).

/// Softmax of one pixel: q[j] = exp(x[j*hw] - lse); returns lse = log sum_j exp(x_j).
@inline(__always)
func pixelSoftmax(_ x: UnsafePointer<Float>, stride hw: Int, channels c: Int, into q: UnsafeMutablePointer<Double>) -> Double {
    var mx = -Double.infinity
    for j in 0..<c { mx = max(mx, Double(x[j * hw])) }
    var sum = 0.0
    for j in 0..<c {
        let e = exp(Double(x[j * hw]) - mx)
        q[j] = e
        sum += e
    }
    let inv = 1 / sum
    for j in 0..<c { q[j] *= inv }
    return mx + log(sum)
}

/// log sum_{l ∈ S_v} exp(x_l), stable (max over the set subtracted).
@inline(__always)
func setLogSumExp(_ x: UnsafePointer<Float>, stride hw: Int, table: LabelTable, row v: Int) -> Double {
    var mx = -Double.infinity
    for l in 0..<table.channels where table.contains(v, l) { mx = max(mx, Double(x[l * hw])) }
    var sum = 0.0
    for l in 0..<table.channels where table.contains(v, l) { sum += exp(Double(x[l * hw]) - mx) }
    return mx + log(sum)
}

/// The predicted class: the first channel with the largest logit (ties go to the lower channel).
@inline(__always)
func pixelArgmax(_ x: UnsafePointer<Float>, stride hw: Int, channels c: Int) -> Int {
    var best = 0
    var bv = x[0]
    for j in 1..<max(c, 1) where x[j * hw] > bv {
        best = j
        bv = x[j * hw]
    }
    return best
}

/// Softmax backward for one pixel: dx_j = scale * q_j (g_j - sum_l q_l g_l), written strided.
@inline(__always)
func pixelSoftmaxBackward(
    q: UnsafePointer<Double>, g: UnsafePointer<Double>, channels c: Int, scale: Double,
    into dx: UnsafeMutablePointer<Float>, stride hw: Int
) {
    var dotqg = 0.0
    for j in 0..<c { dotqg += q[j] * g[j] }
    for j in 0..<c { dx[j * hw] = Float(scale * q[j] * (g[j] - dotqg)) }
}
