#if canImport(Glibc)
import Glibc
#endif

/// A set of channels scored together by an overlap (Dice-like) loss in one image: its
/// probability is p̃_mG = Σ_{l∈G} q_ml, its target per target row v is `codes[v]`
/// (0 or 1; 2 = the pixel is left out of this group's sums), and `weight` its share of the
/// image's mean.
struct OverlapGroup {
    var channels: [Int]
    var weight: Double
    var codes: [UInt8]

    /// The usual target: 1 when S_v ⊆ G, 0 when S_v ∩ G = ∅, left out when S_v straddles G
    /// (a super label that may or may not be in G).
    init(channels: [Int], weight: Double, table: LabelTable) {
        self.channels = channels
        self.weight = weight
        codes = (0..<table.values).map { v in
            let inside = channels.filter { table.contains(v, $0) }.count
            let size = table.set(v).count
            return inside == size ? 1 : (inside == 0 ? 0 : 2)
        }
    }

    init(channels: [Int], weight: Double, codes: [UInt8]) {
        self.channels = channels
        self.weight = weight
        self.codes = codes
    }
}

/// A group's loss from its sums I = Σ p̃ ỹ, P = Σ p̃, Y = Σ ỹ: value and ∂/∂I, ∂/∂P.
typealias OverlapTerm = (_ i: Double, _ p: Double, _ y: Double) -> (value: Double, dI: Double, dP: Double)

/// The shared kernel of the overlap losses. Per image b with groups G (disjoint):
///     L_b = Σ_G w_G f(I_G, P_G, Y_G) / Σ_G w_G,   L = mean of L_b over images with Σ w_G > 0,
/// and dL/dq_ml = (w_G / (Σ w · N')) (∂f/∂I ỹ_mG + ∂f/∂P) for l ∈ G, then the softmax backward.
/// Sums run over the labelled pixels of the image (not `ignoreIndex`, not left out of G).
func overlapLoss(
    logits: UnsafePointer<Float>, target: UnsafePointer<Int32>, tables: [LabelTable], groups: [[OverlapGroup]],
    shape: TensorShape, dlogits: UnsafeMutablePointer<Float>, ignoreIndex: Int32, term: OverlapTerm
) -> Double {
    let c = shape.c, hw = shape.h * shape.w, chw = c * hw
    dlogits.update(repeating: 0, count: shape.count)
    let scored = groups.filter { $0.reduce(0) { $0 + $1.weight } > 0 }.count
    guard scored > 0 else { return 0 }
    // Images are independent: the engine's workers take them, each with its own scratch
    // (probs: one image's softmax, pixel-major (HW, C), kept from pass 1 for pass 2; g: one
    // pixel's dL/dq), and the per-image values are added in image order.
    let workers = min(EngineThreads.threadCount, shape.n)
    let probs = UnsafeMutablePointer<Double>.allocate(capacity: hw * c * max(workers, 1))
    let gs = UnsafeMutablePointer<Double>.allocate(capacity: c * max(workers, 1))
    defer {
        probs.deallocate()
        gs.deallocate()
    }
    var values = [Double](repeating: 0, count: shape.n)
    values.withUnsafeMutableBufferPointer { values in
        parallelFor(shape.n, workers: workers) { b, worker in
            values[b] = overlapImage(
                logits: logits + b * chw, target: target + b * hw, table: tables[b], groups: groups[b], c: c, hw: hw,
                scored: scored, probs: probs + worker * hw * c, g: gs + worker * c, dlogits: dlogits + b * chw,
                ignoreIndex: ignoreIndex, term: term)
        }
    }
    return values.reduce(0, +)
}

/// One image's share of `overlapLoss` (its value; its dL/dlogits into `dlogits`).
private func overlapImage(
    logits: UnsafePointer<Float>, target: UnsafePointer<Int32>, table: LabelTable, groups gs: [OverlapGroup],
    c: Int, hw: Int, scored: Int, probs: UnsafeMutablePointer<Double>, g: UnsafeMutablePointer<Double>,
    dlogits: UnsafeMutablePointer<Float>, ignoreIndex: Int32, term: OverlapTerm
) -> Double {
    let weightSum = gs.reduce(0) { $0 + $1.weight }
    if weightSum <= 0 { return 0 }
    var total = 0.0
    let ng = gs.count
    // groupOf[l]: the group holding channel l (−1: none); codes[v * ng + k]: group k's target for row v.
    var groupOf = [Int](repeating: -1, count: c)
    var codes = [UInt8](repeating: 0, count: table.values * ng)
    for (k, grp) in gs.enumerated() {
        for l in grp.channels {
            precondition(groupOf[l] < 0, "overlap groups share channel \(l)")
            groupOf[l] = k
        }
        for v in 0..<table.values { codes[v * ng + k] = grp.codes[v] }
    }
    // Pass 1: I, P, Y per group.
    var sumI = [Double](repeating: 0, count: ng), sumP = sumI, sumY = sumI, pk = sumI
    for p in 0..<hw {
        let t = target[p]
        if t == ignoreIndex { continue }
        let v = table.row(t)
        let q = probs + p * c
        _ = pixelSoftmax(logits + p, stride: hw, channels: c, into: q)
        for k in 0..<ng { pk[k] = 0 }
        for l in 0..<c where groupOf[l] >= 0 { pk[groupOf[l]] += q[l] }
        for k in 0..<ng {
            let code = codes[v * ng + k]
            if code == 2 { continue }
            let y = Double(code)
            sumP[k] += pk[k]
            sumI[k] += pk[k] * y
            sumY[k] += y
        }
    }
    // Per-group value and the scaled partials.
    var dI = sumI, dP = sumI
    let scale = 1 / (weightSum * Double(scored))
    for k in 0..<ng {
        let r = term(sumI[k], sumP[k], sumY[k])
        total += gs[k].weight * r.value * scale
        dI[k] = gs[k].weight * r.dI * scale
        dP[k] = gs[k].weight * r.dP * scale
    }
    // Pass 2: dL/dq per pixel, then through the softmax.
    for p in 0..<hw {
        let t = target[p]
        if t == ignoreIndex { continue }
        let v = table.row(t)
        let q = probs + p * c
        for l in 0..<c {
            let k = groupOf[l]
            if k < 0 {
                g[l] = 0
                continue
            }
            let code = codes[v * ng + k]
            g[l] = code == 2 ? 0 : dI[k] * Double(code) + dP[k]
        }
        pixelSoftmaxBackward(q: q, g: g, channels: c, scale: 1, into: dlogits + p, stride: hw)
    }
    return total
}

/// Soft Dice overlap d = (2I + ε) / (P + Y + ε) and the two losses made from it.
public enum DiceKind: String, Sendable, Equatable, CaseIterable {
    /// 1 − d (Wong et al. eq. 2).
    case soft
    /// −log d (Wong et al. eq. 3).
    case log

    func term(epsilon e: Double) -> OverlapTerm {
        switch self {
        case .soft:
            return { i, p, y in
                let den = p + y + e
                return (1 - (2 * i + e) / den, -2 / den, (2 * i + e) / (den * den))
            }
        case .log:
            return { i, p, y in
                let den = p + y + e
                return (naturalLog(den) - naturalLog(2 * i + e), -2 / (2 * i + e), 1 / den)
            }
        }
    }
}

/// `log` spelled so that DiceKind.log does not shadow it.
@inline(__always) private func naturalLog(_ x: Double) -> Double { log(x) }

/// Presence-masked soft or log Dice (Wong et al. eqs. 2–3), per image:
///     L_b = Σ_c k_c ℓ(d_c) / Σ_c k_c,  L = mean over images with some annotated class,
/// d_c = (2 Σ_m q_mc y_mc + ε) / (Σ_m q_mc + Σ_m y_mc + ε). `masked: false` sets every k_c = 1
/// (for fully labelled data). Pixels with a super label containing c are left out of class c's
/// sums (their membership in c is unknown).
public struct DiceLoss: SegmentationLoss, Sendable, Equatable {
    public var kind: DiceKind
    public var masked: Bool
    public var epsilon: Double
    public var ignoreIndex: Int32

    public init(kind: DiceKind, masked: Bool = true, epsilon: Double = 1, ignoreIndex: Int32 = -1) {
        precondition(epsilon > 0, "Dice needs a smoothing epsilon > 0")
        self.kind = kind
        self.masked = masked
        self.epsilon = epsilon
        self.ignoreIndex = ignoreIndex
    }

    public func loss(
        logits: UnsafePointer<Float>, target: UnsafePointer<Int32>, info: [ImageLabelInfo],
        shape: TensorShape, dlogits: UnsafeMutablePointer<Float>
    ) -> Double {
        let tables = labelTables(info, shape: shape)
        let groups = tables.map { table in
            (0..<shape.c).map { OverlapGroup(channels: [$0], weight: masked ? table.presence[$0] : 1, table: table) }
        }
        return overlapLoss(logits: logits, target: target, tables: tables, groups: groups, shape: shape,
                           dlogits: dlogits, ignoreIndex: ignoreIndex, term: kind.term(epsilon: epsilon))
    }
}

/// Focal Tversky loss with a presence array (Wong et al. eq. 9, after Abraham & Khan 2019):
///     TI_c = (I + ε) / (I + α (Y − I) + β (P − I) + ε),  L_b = Σ_c k_c (1 − TI_c)^(1/γ) / Σ_c k_c,
/// α weighs false negatives, β false positives; defaults α 0.7, β 0.3, γ 4/3, ε 1.
public struct FocalTverskyLoss: SegmentationLoss, Sendable, Equatable {
    public var alpha: Double, beta: Double, gamma: Double, epsilon: Double
    public var masked: Bool
    public var ignoreIndex: Int32

    public init(alpha: Double = 0.7, beta: Double = 0.3, gamma: Double = 4.0 / 3.0, epsilon: Double = 1,
                masked: Bool = true, ignoreIndex: Int32 = -1) {
        precondition(alpha >= 0 && beta >= 0 && gamma > 0 && epsilon > 0, "focal Tversky needs α, β ≥ 0, γ > 0, ε > 0")
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma
        self.epsilon = epsilon
        self.masked = masked
        self.ignoreIndex = ignoreIndex
    }

    public func loss(
        logits: UnsafePointer<Float>, target: UnsafePointer<Int32>, info: [ImageLabelInfo],
        shape: TensorShape, dlogits: UnsafeMutablePointer<Float>
    ) -> Double {
        let tables = labelTables(info, shape: shape)
        let groups = tables.map { table in
            (0..<shape.c).map { OverlapGroup(channels: [$0], weight: masked ? table.presence[$0] : 1, table: table) }
        }
        let (a, b, e, power) = (alpha, beta, epsilon, 1 / gamma)
        return overlapLoss(logits: logits, target: target, tables: tables, groups: groups, shape: shape,
                           dlogits: dlogits, ignoreIndex: ignoreIndex) { i, p, y in
            let den = (1 - a - b) * i + a * y + b * p + e
            let ti = (i + e) / den
            // 1 − TI > 0 for any softmax output; the floor only guards the power's derivative.
            let r = max(1 - ti, 1e-12)
            let dfdti = -power * pow(r, power - 1)
            return (pow(r, power), dfdti * (den - (i + e) * (1 - a - b)) / (den * den), dfdti * (-(i + e) * b) / (den * den))
        }
    }
}

/// Marginal Dice (Shi et al. eqs. 7–8): soft Dice over the image's merged label space, the
/// merged background B = {0} ∪ U (probability Σ_{l∈B} q_l) and each annotated foreground class,
/// L_b = mean over those groups of 1 − d_G.
public struct MarginalDiceLoss: SegmentationLoss, Sendable, Equatable {
    public var epsilon: Double
    public var ignoreIndex: Int32
    public init(epsilon: Double = 1, ignoreIndex: Int32 = -1) {
        precondition(epsilon > 0, "Dice needs a smoothing epsilon > 0")
        self.epsilon = epsilon
        self.ignoreIndex = ignoreIndex
    }

    public func loss(
        logits: UnsafePointer<Float>, target: UnsafePointer<Int32>, info: [ImageLabelInfo],
        shape: TensorShape, dlogits: UnsafeMutablePointer<Float>
    ) -> Double {
        let tables = labelTables(info, shape: shape, marginal: true)
        let groups = tables.map { table in
            [OverlapGroup(channels: [0] + table.unannotated, weight: 1, table: table)]
                + (1..<shape.c).filter { !table.unannotated.contains($0) }.map { OverlapGroup(channels: [$0], weight: 1, table: table) }
        }
        return overlapLoss(logits: logits, target: target, tables: tables, groups: groups, shape: shape,
                           dlogits: dlogits, ignoreIndex: ignoreIndex, term: DiceKind.soft.term(epsilon: epsilon))
    }
}

/// Exclusion Dice (Shi et al. eqs. 9–10): for each unannotated class n the overlap of its
/// prediction with the region its label rules out, e_mn = [n ∉ S_m],
///     L_b = mean_{n∈U} 2 Σ_m e_mn q_mn / (Σ_m e_mn + Σ_m q_mn + ε),
/// minimised (at 0) when no unannotated class is predicted on annotated structures; images
/// without unannotated classes do not count in the mean.
public struct ExclusionDiceLoss: SegmentationLoss, Sendable, Equatable {
    public var epsilon: Double
    public var ignoreIndex: Int32
    public init(epsilon: Double = 1, ignoreIndex: Int32 = -1) {
        precondition(epsilon > 0, "Dice needs a smoothing epsilon > 0")
        self.epsilon = epsilon
        self.ignoreIndex = ignoreIndex
    }

    public func loss(
        logits: UnsafePointer<Float>, target: UnsafePointer<Int32>, info: [ImageLabelInfo],
        shape: TensorShape, dlogits: UnsafeMutablePointer<Float>
    ) -> Double {
        let tables = labelTables(info, shape: shape, marginal: true)
        let groups = tables.map { table in
            table.unannotated.map { n in
                OverlapGroup(channels: [n], weight: 1, codes: (0..<table.values).map { table.contains($0, n) ? 0 : 1 })
            }
        }
        let e = epsilon
        return overlapLoss(logits: logits, target: target, tables: tables, groups: groups, shape: shape,
                           dlogits: dlogits, ignoreIndex: ignoreIndex) { i, p, y in
            let den = p + y + e
            return (2 * i / den, 2 / den, -2 * i / (den * den))
        }
    }
}
