#if canImport(Glibc)
import Glibc
#endif

/// Adam's settings (PyTorch defaults); a non-zero weight decay is decoupled (AdamW).
public struct AdamConfig: Sendable, Equatable, Codable {
    public var learningRate: Float = 1e-3
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var eps: Float = 1e-8
    /// Decoupled weight decay: each step first multiplies every parameter by (1 - lr * decay).
    public var weightDecay: Float = 0
    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
    }
}

/// Adam with bias correction, one flat loop over the arena (moments live in the arena).
/// Matches `torch.optim.Adam` (and `AdamW` when weight decay is set).
public struct Adam: Sendable {
    public var config: AdamConfig
    /// Number of updates done so far (t).
    public private(set) var step: Int = 0

    public init(config: AdamConfig = AdamConfig()) { self.config = config }

    /// Resumes an optimiser that has done `step` updates (its moments live in the arena).
    public init(config: AdamConfig, step: Int) {
        precondition(step >= 0)
        self.config = config
        self.step = step
    }

    /// One update of every parameter from its gradient.
    public mutating func update(_ arena: Arena) {
        step += 1
        let p = arena.params, g = arena.grads, m = arena.adamM, v = arena.adamV
        let b1 = config.beta1, b2 = config.beta2, eps = config.eps, lr = config.learningRate
        let bc1 = 1 - powf(b1, Float(step))
        let bc2Sqrt = (1 - powf(b2, Float(step))).squareRoot()
        let stepSize = lr / bc1
        let decay = 1 - lr * config.weightDecay
        for i in 0..<arena.parameterCount {
            let gi = g[i]
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi * gi
            let denom = v[i].squareRoot() / bc2Sqrt + eps
            p[i] = p[i] * decay - stepSize * m[i] / denom
        }
    }
}

/// Scales all gradients so their global L2 norm is at most `maxNorm` (PyTorch
/// `clip_grad_norm_`: factor maxNorm / (norm + 1e-6), never above 1). Returns the norm before.
@discardableResult
public func clipGradientNorm(_ arena: Arena, maxNorm: Float) -> Float {
    let g = arena.grads
    var sq = 0.0
    for i in 0..<arena.parameterCount { sq += Double(g[i]) * Double(g[i]) }
    let norm = Float(sq.squareRoot())
    let factor = maxNorm / (norm + 1e-6)
    if factor < 1 {
        for i in 0..<arena.parameterCount { g[i] *= factor }
    }
    return norm
}

/// A learning-rate schedule: asked once after each epoch for the next epoch's rate.
public protocol LearningRateSchedule {
    /// The rate to start with.
    var initialRate: Float { get }
    /// The rate for the next epoch, after `epoch` (1-based) epochs have finished with the given
    /// validation loss (nil when not measured).
    mutating func rate(afterEpoch epoch: Int, validationLoss: Double?) -> Float
}

/// The same rate throughout.
public struct ConstantSchedule: LearningRateSchedule, Sendable {
    public var initialRate: Float
    public init(rate: Float) { initialRate = rate }
    public mutating func rate(afterEpoch epoch: Int, validationLoss: Double?) -> Float { initialRate }
}

/// Multiplies the rate by `gamma` every `stepSize` epochs (PyTorch `StepLR`).
public struct StepSchedule: LearningRateSchedule, Sendable {
    public var initialRate: Float
    public var stepSize: Int
    public var gamma: Float
    public init(rate: Float, stepSize: Int, gamma: Float = 0.1) {
        precondition(stepSize > 0)
        initialRate = rate
        self.stepSize = stepSize
        self.gamma = gamma
    }
    public mutating func rate(afterEpoch epoch: Int, validationLoss: Double?) -> Float {
        initialRate * powf(gamma, Float(epoch / stepSize))
    }
}

/// Multiplies the rate by `factor` when the validation loss has not improved by a relative
/// `threshold` for more than `patience` epochs (PyTorch `ReduceLROnPlateau`, mode "min", rel).
public struct ReduceOnPlateauSchedule: LearningRateSchedule, Sendable {
    public var initialRate: Float
    public var factor: Float
    public var patience: Int
    public var threshold: Double
    public var minimumRate: Float
    public private(set) var current: Float
    private var best = Double.infinity
    private var badEpochs = 0

    public init(rate: Float, factor: Float = 0.1, patience: Int = 10, threshold: Double = 1e-4, minimumRate: Float = 0) {
        initialRate = rate
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.minimumRate = minimumRate
        current = rate
    }

    public mutating func rate(afterEpoch epoch: Int, validationLoss: Double?) -> Float {
        guard let loss = validationLoss else { return current }
        if loss < best * (1 - threshold) {
            best = loss
            badEpochs = 0
        } else {
            badEpochs += 1
        }
        if badEpochs > patience {
            current = max(current * factor, minimumRate)
            badEpochs = 0
        }
        return current
    }
}
