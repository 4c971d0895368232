import Foundation

/// The knobs of a site retraining run (`[retrain]` in segvol.toml, docs/training.md "Site mode").
public struct RetrainSettings: Codable, Sendable, Equatable {
    /// Total optimiser steps of the run (fine-tuning from the current model).
    public var steps = 300
    /// Wall-time bound of one invocation, minutes; the run ends at its best checkpoint.
    public var maxMinutes = 60.0
    /// Sampling weight of the store cases the current model has not seen (old cases: 1).
    public var newCaseWeight = 4.0
    /// Partial-label loss (docs/losses.md).
    public var loss = "xent_plus + dice_log"
    /// Validation probability of a new subject (SHA-256 of its id), frozen once assigned.
    public var validationFraction = 0.2
    /// Adam's rate (fresh optimiser state).
    public var learningRate: Float = 1e-4
    public var batch = 8
    public var validateEvery = 50
    public var checkpointEvery = 25
    public var seed: UInt64 = 1
    public var foregroundFraction = 0.5
    public var augment = true

    public init() {}

    /// The training options these settings give.
    public var trainingOptions: TrainingOptions {
        var o = TrainingOptions(steps: steps)
        o.seed = seed
        o.sampler = SamplerOptions(batchSize: batch, foregroundFraction: foregroundFraction, augmentation: augment ? Augmentation() : .none)
        o.learningRate = learningRate
        o.minimumLearningRate = min(o.minimumLearningRate, learningRate)
        o.validateEvery = validateEvery
        o.checkpointEvery = checkpointEvery
        o.maxWallSeconds = maxMinutes * 60
        o.validationFraction = validationFraction
        return o
    }
}

/// What a site retraining run produced (`<run>/result.json`): the candidate and the scores of
/// the current model and the candidate on the same frozen validation set.
public struct RetrainResult: Codable, Sendable {
    public var format = "segvol-retrain-result"
    public var version = 1
    /// The model fine-tuned from (its version) and its folder.
    public var parentModel: String
    public var parentPath: String
    /// The candidate model folder (plan.json, weights.safetensors, metrics.json …).
    public var candidate: String
    public var runFolder: String
    public var status: StopReason
    public var steps: Int
    public var seconds: Double
    public var loss: String
    /// Store snapshot trained on, all store cases, and those new since the parent.
    public var storeSnapshot: String
    public var storeCases: Int
    public var newCases: [String]
    public var dataSnapshotHash: String
    public var validationCases: Int
    public var validationSubjects: Int
    /// Of `validationCases`: those from the dataset store (the site's own subjects) and those
    /// from the phantom data (the regression guard). nil in results written before they were counted.
    public var validationSiteCases: Int?
    public var validationGuardCases: Int?
    public var current: ValidationResult
    public var candidateResult: ValidationResult
    /// candidate − current mean Dice (presence-aware, same cases).
    public var meanDiceChange: Double
    public var finishedAt: String
    /// What the gate decided (`RetrainRun.decide`), one line; nil without a gate.
    public var decision: String?
}
