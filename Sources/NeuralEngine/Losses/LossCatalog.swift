/// The settings the named losses share (one place, so a config string stays short).
public struct LossOptions: Sendable, Equatable {
    /// Target value that marks unlabelled pixels (every loss skips them).
    public var ignoreIndex: Int32 = -1
    /// α_c per output channel for the ISMRM cross-entropy modes (`xent_fn`, ...); nil = all 1.
    public var classWeights: [Double]? = nil
    /// What the presence-masked cross-entropies divide by (default: labelled pixels M).
    public var xentNormalization: CrossEntropyNormalization = .pixels
    /// Smoothing ε of every Dice-like loss (soft/log/marginal/exclusion Dice, focal Tversky).
    public var diceEpsilon: Double = 1
    /// ε inside log(q + ε) of the exclusion cross-entropy (1 in Shi et al.).
    public var exclusionEpsilon: Double = 1
    /// Focal Tversky α (false negatives), β (false positives), γ (the exponent is 1/γ).
    public var tverskyAlpha: Double = 0.7, tverskyBeta: Double = 0.3, tverskyGamma: Double = 4.0 / 3.0

    public init() {}
}

/// The loss names a config string may use, each with a one-line meaning (docs/losses.md).
public enum LossCatalog {
    public struct Entry: Sendable {
        public let name: String
        public let summary: String
        let make: @Sendable (LossOptions) -> any SegmentationLoss & Sendable
    }

    public static let entries: [Entry] = [
        Entry(name: "xent", summary: "plain cross-entropy, mean over labelled pixels (fully labelled data)") {
            CrossEntropyLoss(ignoreIndex: $0.ignoreIndex)
        },
        xent(.base, "presence-masked cross-entropy, w = Σ k y (Wong eq. 5)"),
        xent(.or, "presence-masked cross-entropy, w = Σ k (y OR ŷ) (Wong eq. 6)"),
        xent(.plus, "presence-masked cross-entropy, w = Σ k (y + ŷ) (Wong eq. 7)"),
        xent(.fn, "ISMRM variant: w = Σ α k y (keeps false negatives)"),
        xent(.fp, "ISMRM variant: w = Σ α k ŷ (keeps false positives)"),
        xent(.fnOrFp, "ISMRM variant: w = Σ α k (y OR ŷ)"),
        xent(.fnPlusFp, "ISMRM variant: w = Σ α k (y + ŷ)"),
        Entry(name: "dice_soft", summary: "presence-masked soft Dice, Σ k (1 − d) / Σ k (Wong eq. 2)") {
            DiceLoss(kind: .soft, masked: true, epsilon: $0.diceEpsilon, ignoreIndex: $0.ignoreIndex)
        },
        Entry(name: "dice_log", summary: "presence-masked log Dice, Σ k (−log d) / Σ k (Wong eq. 3)") {
            DiceLoss(kind: .log, masked: true, epsilon: $0.diceEpsilon, ignoreIndex: $0.ignoreIndex)
        },
        Entry(name: "dice_soft_full", summary: "soft Dice over all channels, no presence mask (fully labelled data)") {
            DiceLoss(kind: .soft, masked: false, epsilon: $0.diceEpsilon, ignoreIndex: $0.ignoreIndex)
        },
        Entry(name: "dice_log_full", summary: "log Dice over all channels, no presence mask (fully labelled data)") {
            DiceLoss(kind: .log, masked: false, epsilon: $0.diceEpsilon, ignoreIndex: $0.ignoreIndex)
        },
        Entry(name: "focal_tversky", summary: "presence-masked focal Tversky (Wong eq. 9)") {
            FocalTverskyLoss(alpha: $0.tverskyAlpha, beta: $0.tverskyBeta, gamma: $0.tverskyGamma,
                             epsilon: $0.diceEpsilon, masked: true, ignoreIndex: $0.ignoreIndex)
        },
        Entry(name: "mce", summary: "marginal cross-entropy (Shi eqs. 4–6)") { MarginalCrossEntropy(ignoreIndex: $0.ignoreIndex) },
        Entry(name: "mdice", summary: "marginal soft Dice (Shi eqs. 7–8)") {
            MarginalDiceLoss(epsilon: $0.diceEpsilon, ignoreIndex: $0.ignoreIndex)
        },
        Entry(name: "ece", summary: "exclusion cross-entropy, log(q + ε) on excluded pixels (Shi eq. 11)") {
            ExclusionCrossEntropy(epsilon: $0.exclusionEpsilon, ignoreIndex: $0.ignoreIndex)
        },
        Entry(name: "edice", summary: "exclusion Dice (Shi eqs. 9–10)") {
            ExclusionDiceLoss(epsilon: $0.diceEpsilon, ignoreIndex: $0.ignoreIndex)
        },
        Entry(name: "xent_super", summary: "super-label aware cross-entropy, −log Σ_{l∈S} q_l (Kemnitz eq. 3)") {
            SuperLabelCrossEntropy(ignoreIndex: $0.ignoreIndex)
        },
        Entry(name: "xent_super_naive", summary: "cross-entropy with super-labelled pixels masked out (Kemnitz eq. 2)") {
            NaiveMaskedCrossEntropy(ignoreIndex: $0.ignoreIndex)
        },
    ]

    private static func xent(_ mode: PresenceMaskedCrossEntropy.Mode, _ summary: String) -> Entry {
        Entry(name: "xent_" + mode.rawValue, summary: summary) {
            PresenceMaskedCrossEntropy(mode: mode, classWeights: $0.classWeights, normalization: $0.xentNormalization,
                                       ignoreIndex: $0.ignoreIndex)
        }
    }

    /// Every known name, in catalog order.
    public static var names: [String] { entries.map(\.name) }

    /// The loss for a name, or nil.
    public static func make(_ name: String, options: LossOptions = LossOptions()) -> (any SegmentationLoss & Sendable)? {
        entries.first { $0.name == name }?.make(options)
    }
}
