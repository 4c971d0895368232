#if canImport(Glibc)
import Glibc
#endif

/// What a weighted cross-entropy divides its weighted sum by.
public enum CrossEntropyNormalization: String, Sendable, Equatable, CaseIterable {
    /// M, the number of labelled pixels of the batch (pixels whose target is not `ignoreIndex`):
    /// a weight map applied as Keras/TensorFlow sample weights with a mean reduction.
    case pixels
    /// sum_m w_m, the weighted mean (PyTorch's `weight=` with `reduction="mean"`).
    case weights
}

/// The shared kernel of every cross-entropy here: for each labelled pixel m with target row v,
///     ℓ_m = -log sum_{l ∈ S_v} q_ml = lse(x_m) - lse_{S_v}(x_m),
/// L = sum_m w_m ℓ_m / Z with Z from `normalization`, and
///     dL/dx_mj = (w_m / Z) (q_mj - [j ∈ S_v] exp(x_mj - lse_{S_v})).
/// `weight(table, v, predicted)` gives w_m (predicted = argmax of the logits, a constant).
func setCrossEntropy(
    logits: UnsafePointer<Float>, target: UnsafePointer<Int32>, tables: [LabelTable], shape: TensorShape,
    dlogits: UnsafeMutablePointer<Float>, ignoreIndex: Int32, normalization: CrossEntropyNormalization,
    weight: (LabelTable, Int, Int) -> Double
) -> Double {
    let c = shape.c, hw = shape.h * shape.w, chw = c * hw
    // Images are independent: the engine's workers take them, each with its own softmax row,
    // and the per-image sums are added in image order (the same result for any thread count).
    let workers = min(EngineThreads.threadCount, shape.n)
    let scratch = UnsafeMutablePointer<Double>.allocate(capacity: c * max(workers, 1))
    defer { scratch.deallocate() }
    var sums = [(total: Double, pixels: Int, weights: Double)](repeating: (0, 0, 0), count: shape.n)
    sums.withUnsafeMutableBufferPointer { sums in
        parallelFor(shape.n, workers: workers) { b, worker in
            let q = scratch + worker * c
            let table = tables[b]
            (dlogits + b * chw).update(repeating: 0, count: chw)
            var total = 0.0, pixels = 0, weights = 0.0
            for p in 0..<hw {
                let t = target[b * hw + p]
                if t == ignoreIndex { continue }
                let v = table.row(t)
                pixels += 1
                let x = logits + b * chw + p
                let w = weight(table, v, pixelArgmax(x, stride: hw, channels: c))
                if w == 0 { continue }
                weights += w
                let lse = pixelSoftmax(x, stride: hw, channels: c, into: q)
                let lseS = setLogSumExp(x, stride: hw, table: table, row: v)
                total += w * (lse - lseS)
                let dx = dlogits + b * chw + p
                for j in 0..<c {
                    let inSet = table.contains(v, j) ? exp(Double(x[j * hw]) - lseS) : 0
                    dx[j * hw] = Float(w * (q[j] - inSet))
                }
            }
            sums[b] = (total, pixels, weights)
        }
    }
    let total = sums.reduce(0) { $0 + $1.total }
    let z = normalization == .pixels ? Double(sums.reduce(0) { $0 + $1.pixels }) : sums.reduce(0) { $0 + $1.weights }
    guard z > 0 else {
        dlogits.update(repeating: 0, count: shape.count)
        return 0
    }
    let inv = Float(1 / z)
    parallelFor(shape.n, workers: workers) { b, _ in
        let d = dlogits + b * chw
        for i in 0..<chw { d[i] *= inv }
    }
    return total / z
}

/// Presence-masked cross-entropy (Wong et al. eqs. 4–7) and the ISMRM variants.
///
/// With y_m the one-hot target, ŷ_m the one-hot argmax prediction (a constant: no gradient flows
/// through the argmax) and k the image's presence array, the per-pixel weight is
/// - `base`: w_m = Σ_c k_c y_mc;  `or`: Σ_c k_c (y_mc OR ŷ_mc);  `plus`: Σ_c k_c (y_mc + ŷ_mc);
/// - ISMRM variants, the same masks named by the errors they keep, each class weighted by α_c:
///   `fn`: Σ_c α_c k_c y_mc;  `fp`: Σ_c α_c k_c ŷ_mc;  `fnOrFp`: Σ_c α_c k_c (y_mc OR ŷ_mc);
///   `fnPlusFp`: Σ_c α_c k_c (y_mc + ŷ_mc).
/// and L = -Σ_m w_m Σ_c y_mc log q_mc / Z. A super-label target S counts as y_m = 1_S, with its
/// y-part of the weight max_{c∈S} α_c k_c and its log term -log Σ_{c∈S} q_mc (docs/losses.md).
public struct PresenceMaskedCrossEntropy: SegmentationLoss, Sendable, Equatable {
    public enum Mode: String, Sendable, Equatable, CaseIterable {
        case base, or, plus
        case fn, fp, fnOrFp = "fn_or_fp", fnPlusFp = "fn_plus_fp"

        /// Whether the ISMRM class weights α apply (the journal modes use α = 1).
        var usesClassWeights: Bool { ![.base, .or, .plus].contains(self) }
    }

    public var mode: Mode
    /// α_c per channel for the ISMRM modes; nil means all 1.
    public var classWeights: [Double]?
    public var normalization: CrossEntropyNormalization
    public var ignoreIndex: Int32

    public init(mode: Mode, classWeights: [Double]? = nil, normalization: CrossEntropyNormalization = .pixels, ignoreIndex: Int32 = -1) {
        self.mode = mode
        self.classWeights = classWeights
        self.normalization = normalization
        self.ignoreIndex = ignoreIndex
    }

    /// w_m for a pixel whose target row is v and whose predicted channel is `predicted`.
    func pixelWeight(_ table: LabelTable, _ v: Int, _ predicted: Int) -> Double {
        let alpha = mode.usesClassWeights ? classWeights : nil
        func a(_ c: Int) -> Double { alpha?[c] ?? 1 }
        var yPart = 0.0  // Σ_c α_c k_c y_mc, for a set target max over S
        for l in 0..<table.channels where table.contains(v, l) { yPart = max(yPart, a(l) * table.presence[l]) }
        let yhatPart = a(predicted) * table.presence[predicted]
        let predictedInTarget = table.contains(v, predicted)
        switch mode {
        case .base, .fn: return yPart
        case .fp: return yhatPart
        case .or, .fnOrFp: return predictedInTarget ? yPart : yPart + yhatPart
        case .plus, .fnPlusFp: return yPart + yhatPart
        }
    }

    public func loss(
        logits: UnsafePointer<Float>, target: UnsafePointer<Int32>, info: [ImageLabelInfo],
        shape: TensorShape, dlogits: UnsafeMutablePointer<Float>
    ) -> Double {
        if let classWeights { precondition(classWeights.count == shape.c, "\(classWeights.count) class weights for \(shape.c) channels") }
        return setCrossEntropy(logits: logits, target: target, tables: labelTables(info, shape: shape), shape: shape,
                               dlogits: dlogits, ignoreIndex: ignoreIndex, normalization: normalization, weight: pixelWeight)
    }
}

/// Super-label aware cross-entropy (Kemnitz et al. eq. 3): ℓ_m = -log Σ_{l∈S_m} q_ml, where S_m
/// is the pixel's channel set ({t} for a class, the super label's set otherwise); mean over the
/// labelled pixels. Presence is not used. With no super labels it is plain cross-entropy.
public struct SuperLabelCrossEntropy: SegmentationLoss, Sendable, Equatable {
    public var ignoreIndex: Int32
    public init(ignoreIndex: Int32 = -1) { self.ignoreIndex = ignoreIndex }

    public func loss(
        logits: UnsafePointer<Float>, target: UnsafePointer<Int32>, info: [ImageLabelInfo],
        shape: TensorShape, dlogits: UnsafeMutablePointer<Float>
    ) -> Double {
        setCrossEntropy(logits: logits, target: target, tables: labelTables(info, shape: shape), shape: shape,
                        dlogits: dlogits, ignoreIndex: ignoreIndex, normalization: .pixels) { _, _, _ in 1 }
    }
}

/// The naive baseline of Kemnitz et al. (eq. 2): pixels carrying a super label are masked out
/// and plain cross-entropy is averaged over the remaining labelled pixels.
public struct NaiveMaskedCrossEntropy: SegmentationLoss, Sendable, Equatable {
    public var ignoreIndex: Int32
    public init(ignoreIndex: Int32 = -1) { self.ignoreIndex = ignoreIndex }

    public func loss(
        logits: UnsafePointer<Float>, target: UnsafePointer<Int32>, info: [ImageLabelInfo],
        shape: TensorShape, dlogits: UnsafeMutablePointer<Float>
    ) -> Double {
        setCrossEntropy(logits: logits, target: target, tables: labelTables(info, shape: shape), shape: shape,
                        dlogits: dlogits, ignoreIndex: ignoreIndex, normalization: .weights) { table, v, _ in
            v < table.channels ? 1 : 0
        }
    }
}

/// Marginal cross-entropy (Shi et al. eqs. 4–6): background's probability is the marginal
/// q_m0 + Σ_{c unannotated} q_mc, so ℓ_m = -log Σ_{l∈S_m} q_ml with S = {0} ∪ U for a background
/// pixel, {t} for a class, the set for a super label; mean over the labelled pixels.
public struct MarginalCrossEntropy: SegmentationLoss, Sendable, Equatable {
    public var ignoreIndex: Int32
    public init(ignoreIndex: Int32 = -1) { self.ignoreIndex = ignoreIndex }

    public func loss(
        logits: UnsafePointer<Float>, target: UnsafePointer<Int32>, info: [ImageLabelInfo],
        shape: TensorShape, dlogits: UnsafeMutablePointer<Float>
    ) -> Double {
        setCrossEntropy(logits: logits, target: target, tables: labelTables(info, shape: shape, marginal: true), shape: shape,
                        dlogits: dlogits, ignoreIndex: ignoreIndex, normalization: .pixels) { _, _, _ in 1 }
    }
}

/// Exclusion cross-entropy (Shi et al. eqs. 9–11): organs do not overlap, so a pixel whose label
/// rules out an unannotated class n (n ∉ S_m, S_m as in marginal CE) is penalised for q_mn:
///     L = (1/M) Σ_m Σ_{n ∈ U} e_mn log(q_mn + ε),  e_mn = [n ∉ S_m],
/// minimised (at 0 when ε = 1) by q_mn → 0. M = labelled pixels; ε = 1 as in the paper.
public struct ExclusionCrossEntropy: SegmentationLoss, Sendable, Equatable {
    public var epsilon: Double
    public var ignoreIndex: Int32
    public init(epsilon: Double = 1, ignoreIndex: Int32 = -1) {
        precondition(epsilon > 0, "exclusion cross-entropy needs epsilon > 0")
        self.epsilon = epsilon
        self.ignoreIndex = ignoreIndex
    }

    public func loss(
        logits: UnsafePointer<Float>, target: UnsafePointer<Int32>, info: [ImageLabelInfo],
        shape: TensorShape, dlogits: UnsafeMutablePointer<Float>
    ) -> Double {
        let c = shape.c, hw = shape.h * shape.w
        let tables = labelTables(info, shape: shape, marginal: true)
        dlogits.update(repeating: 0, count: shape.count)
        let q = UnsafeMutablePointer<Double>.allocate(capacity: 2 * c)
        defer { q.deallocate() }
        let g = q + c
        var total = 0.0, pixels = 0
        for b in 0..<shape.n {
            let table = tables[b]
            for p in 0..<hw {
                let t = target[b * hw + p]
                if t == ignoreIndex { continue }
                let v = table.row(t)
                pixels += 1
                if table.unannotated.allSatisfy({ table.contains(v, $0) }) { continue }
                let x = logits + b * c * hw + p
                _ = pixelSoftmax(x, stride: hw, channels: c, into: q)
                g.update(repeating: 0, count: c)
                for n in table.unannotated where !table.contains(v, n) {
                    total += log(q[n] + epsilon)
                    g[n] = 1 / (q[n] + epsilon)
                }
                pixelSoftmaxBackward(q: q, g: g, channels: c, scale: 1, into: dlogits + b * c * hw + p, stride: hw)
            }
        }
        guard pixels > 0 else { return 0 }
        let inv = Float(1 / Double(pixels))
        for i in 0..<shape.count { dlogits[i] *= inv }
        return total / Double(pixels)
    }
}
