import Foundation
import Configuration
import Training

/// The gate's thresholds (config `[retrain]` `gate_*`; docs/retraining.md).
public struct GateTolerances: Codable, Sendable, Equatable {
    /// Largest allowed drop of the mean presence-aware Dice (absolute Dice units).
    public var meanDice: Double
    /// Largest allowed drop of any class scored by both models (absolute Dice units).
    public var classDice: Double
    /// Largest allowed growth of the median absolute volume error, in percentage points.
    public var volumeErrorPoints: Double

    public init(meanDice: Double = 0.005, classDice: Double = 0.02, volumeErrorPoints: Double = 2.0) {
        self.meanDice = meanDice
        self.classDice = classDice
        self.volumeErrorPoints = volumeErrorPoints
    }
}

extension GateTolerances {
    /// The tolerances of the `[retrain]` section (`gate_mean_dice_tolerance`,
    /// `gate_class_dice_tolerance`, `gate_volume_error_tolerance`).
    public init(_ r: SegvolConfig.Retrain) {
        self.init(meanDice: r.gateMeanDiceTolerance, classDice: r.gateClassDiceTolerance, volumeErrorPoints: r.gateVolumeErrorTolerance)
    }
}

/// The gate's verdict with every number it used and one human-readable line per rule.
public struct GateDecision: Codable, Sendable, Equatable {
    public var format = "segvol-gate-decision"
    public var accepted: Bool
    public var tolerances: GateTolerances
    public var currentVersion: String?
    /// The version the candidate was registered as (set by `RetrainDecision.apply`).
    public var candidateVersion: String?
    public var currentMeanDice: Double
    public var candidateMeanDice: Double
    /// candidate − current.
    public var meanDiceChange: Double
    /// Every class scored by either model, by name.
    public var classes: [ClassComparison]
    public var currentMedianVolumeErrorPercent: Double?
    public var candidateMedianVolumeErrorPercent: Double?
    /// candidate − current, percentage points (nil when either has no volume truth).
    public var volumeErrorChangePoints: Double?
    /// Why: one line per failed rule, or one line per rule that passed when accepted.
    public var reasons: [String]

    public struct ClassComparison: Codable, Sendable, Equatable {
        public var name: String
        public var current: Double?
        public var candidate: Double?
        /// candidate − current when both score the class.
        public var change: Double?
        /// False only for a class scored by both that dropped by more than the tolerance.
        public var withinTolerance: Bool
    }
}

/// Decides whether a candidate model may replace the current one, from both models' scores on
/// the same frozen validation set.
///
/// Accepted only if (1) the mean Dice drops by at most `meanDice`, (2) no class scored by both
/// drops by more than `classDice`, and (3) the median absolute volume error grows by at most
/// `volumeErrorPoints` percentage points. A change exactly at a tolerance passes: comparisons
/// allow 1e-9 for floating-point rounding (0.8 − 0.795 is 0.0050000000000000044 in binary).
/// A NaN score fails its rule.
public struct ModelGate: Sendable {
    public var tolerances: GateTolerances
    /// Slack for rounding when a change equals a tolerance.
    public static let epsilon = 1e-9

    public init(_ tolerances: GateTolerances = GateTolerances()) { self.tolerances = tolerances }

    public func decide(current: ValidationResult, candidate: ValidationResult) -> GateDecision {
        let t = tolerances, eps = Self.epsilon
        var failures: [String] = [], passes: [String] = []
        func f(_ x: Double) -> String { String(format: "%.4f", x) }

        // 1. Mean Dice.
        let meanChange = candidate.meanDice - current.meanDice
        if meanChange.isNaN || -meanChange > t.meanDice + eps {
            failures.append("mean Dice fell from \(f(current.meanDice)) to \(f(candidate.meanDice)) (\(f(meanChange))), more than the tolerance \(f(t.meanDice))")
        } else {
            passes.append("mean Dice \(f(current.meanDice)) → \(f(candidate.meanDice)) (\(f(meanChange)); tolerance −\(f(t.meanDice)))")
        }

        // 2. Per class, over the classes both score.
        var classes: [GateDecision.ClassComparison] = []
        var classFailures = 0
        for name in Set(current.classDice.keys).union(candidate.classDice.keys).sorted() {
            let a = current.classDice[name], b = candidate.classDice[name]
            var change: Double?, ok = true
            if let a, let b {
                change = b - a
                if (b - a).isNaN || a - b > t.classDice + eps {
                    ok = false
                    classFailures += 1
                    failures.append("class \(name): Dice fell from \(f(a)) to \(f(b)) (\(f(b - a))), more than the class tolerance \(f(t.classDice))")
                }
            }
            classes.append(.init(name: name, current: a, candidate: b, change: change, withinTolerance: ok))
        }
        if classFailures == 0 {
            let both = classes.filter { $0.change != nil }.count
            passes.append("no class of \(both) scored by both fell by more than \(f(t.classDice))")
        }

        // 3. Median absolute volume error.
        var volumeChange: Double?
        switch (current.medianAbsVolumeErrorPercent, candidate.medianAbsVolumeErrorPercent) {
        case let (a?, b?):
            volumeChange = b - a
            if (b - a).isNaN || b - a > t.volumeErrorPoints + eps {
                failures.append(String(format: "median absolute volume error grew from %.2f %% to %.2f %% (+%.2f points), more than the tolerance %.2f points",
                                       a, b, b - a, t.volumeErrorPoints))
            } else {
                passes.append(String(format: "median absolute volume error %.2f %% → %.2f %% (tolerance +%.2f points)", a, b, t.volumeErrorPoints))
            }
        case (nil, nil):
            passes.append("no volume truth in the validation set: the volume rule does not apply")
        case (_?, nil):
            failures.append("the candidate has no volume error although the current model has one: not the same validation set")
        case (nil, _?):
            failures.append("the current model has no volume error although the candidate has one: not the same validation set")
        }

        let accepted = failures.isEmpty
        return GateDecision(accepted: accepted, tolerances: t, currentVersion: nil, candidateVersion: nil,
                            currentMeanDice: current.meanDice, candidateMeanDice: candidate.meanDice, meanDiceChange: meanChange,
                            classes: classes, currentMedianVolumeErrorPercent: current.medianAbsVolumeErrorPercent,
                            candidateMedianVolumeErrorPercent: candidate.medianAbsVolumeErrorPercent,
                            volumeErrorChangePoints: volumeChange, reasons: accepted ? passes : failures)
    }
}
