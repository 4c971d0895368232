import Foundation
import NeuralEngine

/// Everything a training run is configured with besides the plan, the loss and the data.
public struct TrainingOptions: Codable, Sendable, Equatable {
    /// Optimiser steps (mini-batches) in the whole run, including steps done before a resume.
    public var steps: Int
    /// Seeds the weights, the batches and the augmentation.
    public var seed: UInt64 = 1
    public var sampler = SamplerOptions()
    /// Adam's starting rate (the papers: 1e-4).
    public var learningRate: Float = 1e-4
    /// Reduce-on-plateau lowers the rate by `plateauFactor` down to this (the papers: 1e-5).
    public var minimumLearningRate: Float = 1e-5
    public var plateauFactor: Float = 0.1
    /// Validations without improvement of the score before the rate drops.
    public var plateauPatience = 3
    /// Validate every this many steps (and at the end).
    public var validateEvery = 200
    /// Write the resumable training state every this many steps (and at the end).
    public var checkpointEvery = 50
    /// Stop after this many validations without a new best score (0: never stop early).
    public var earlyStopPatience = 8
    /// Stop (with a checkpoint and a report) after this many seconds of this invocation.
    public var maxWallSeconds: Double?
    /// Share of subjects per dataset put in validation when the split is first made.
    public var validationFraction = 0.2
    /// Clip the global gradient norm (nil: no clipping).
    public var clipNorm: Float? = 12
    /// AdamW's decoupled weight decay (0: plain Adam).
    public var weightDecay: Float = 0
    /// Slices per forward pass in validation.
    public var validationBatch = 8

    public init(steps: Int) { self.steps = steps }

    /// The options that must match for a resumed run to continue the same trajectory (steps,
    /// wall time and checkpoint cadence may change between invocations).
    var trajectoryKey: String {
        var copy = self
        copy.steps = 0
        copy.maxWallSeconds = nil
        copy.checkpointEvery = 0
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(copy)) ?? Data(), as: UTF8.self)
    }
}

/// What happened during a run, for progress lines (the library prints nothing itself).
public enum TrainingEvent: Sendable {
    /// Resumed from a saved state at this step.
    case resumed(step: Int)
    /// The starting weights came from a narrower network of this base width (Net2WiderNet).
    case widened(from: Int, to: Int)
    /// One step done.
    case step(StepProgress)
    /// A validation finished.
    case validated(step: Int, result: ValidationResult, isBest: Bool, learningRate: Float)
    /// The resumable state was written.
    case checkpointed(step: Int)
}

/// The numbers of a progress line.
public struct StepProgress: Sendable {
    public var step: Int
    public var totalSteps: Int
    /// Loss of this step's batch, and its running mean over the last 50 steps.
    public var loss: Double
    public var meanLoss: Double
    public var learningRate: Float
    /// Steps per second (mean over this invocation's training steps, validation excluded).
    public var stepsPerSecond: Double
    /// Seconds to `totalSteps` at that speed.
    public var etaSeconds: Double
}

/// Why a run ended.
public enum StopReason: String, Codable, Sendable {
    case completed = "completed"
    case earlyStopped = "early_stopped"
    case timeLimit = "time_limit"
    case interrupted = "interrupted"
}
