import Anatomy
import Dispatch
import Foundation
import ImagingCore
import NeuralEngine
import Segmentation

/// The training loop: Adam with reduce-on-plateau, periodic validation, best checkpoint by
/// validation score, early stop, resumable state, bounded wall time (docs/training.md).
///
/// Determinism: the weights come from `options.seed`, the batch of step s from (seed, s)
/// (`BatchSampler`), and the training state holds weights, batch-norm statistics, Adam's moments
/// and step, and the validation history (the schedule is rebuilt by replaying it). A run killed
/// and resumed from its last state therefore takes the same steps as an uninterrupted one, with
/// the same thread count.
public final class Trainer {
    public let plan: ModelPlan
    public let lossText: String
    public let options: TrainingOptions
    let loss: WeightedLoss
    /// Engine worker threads of the network (nil: `EngineThreads.threadCount`). Weight gradients
    /// are summed per worker, so bit-exact resumption needs the same count before and after.
    public var threadCount: Int?
    /// Fine-tuning: a fresh run starts from these weights (a `weights.safetensors`, PyTorch
    /// names) instead of the seed's initialisation; Adam starts fresh. Part of the run key
    /// (by the file's SHA-256), so a resume needs the same starting weights.
    public var initialWeights: String?
    /// Where the model comes from (parent model, store cases); written to metrics.json.
    public var lineage: ModelLineage?

    /// `plan.loss` is replaced by `loss`. Throws `EngineError` (`loss_syntax`,
    /// `loss_unknown_term`) for a bad loss string.
    public init(plan: ModelPlan, loss: String, options: TrainingOptions) throws(EngineError) {
        self.loss = try LossExpression.parse(loss)
        var p = plan
        p.loss = loss
        self.plan = p
        lossText = loss
        self.options = options
    }

    /// The network this plan describes.
    public func makeNetwork() -> UNet {
        let a = plan.architecture
        let net = UNet(config: UNetConfig(inChannels: a.inChannels, classes: plan.outputs.count, baseWidth: a.baseWidth, depth: a.depth),
                       seed: options.seed)
        if let threadCount { net.threadCount = threadCount }
        return net
    }

    /// What a resumed run must match.
    func runKey(data: TrainingData) throws(ImagingError) -> String {
        var text = "\(String(decoding: prettyJSON(plan), as: UTF8.self))|\(loss.description)|\(options.trajectoryKey)|\(data.snapshotHash)"
        if let w = data.trainWeights { text += "|weights:" + w.map { String($0) }.joined(separator: ",") }
        if let initialWeights {
            guard let bytes = FileManager.default.contents(atPath: initialWeights) else {
                throw ImagingError(.notFound, input: initialWeights, reason: "the starting weights cannot be read",
                                   remedy: "name the weights.safetensors of the model to fine-tune")
            }
            text += "|init:" + SHA256.hex(Array(bytes))
        }
        return SHA256.hex(text)
    }

    /// Loads `initialWeights` into a fresh network. Weights of a narrower U-Net of the same depth,
    /// inputs and outputs are widened first (`UNetWidening`, function-preserving up to the
    /// symmetry-breaking noise); returns the base width they were widened from, else nil.
    @discardableResult
    func loadInitialWeights(into net: UNet) throws(ImagingError) -> Int? {
        guard let initialWeights else { return nil }
        do {
            let file = try SafeTensorsFile(contentsOf: initialWeights)
            if let width = UNetWidening.baseWidth(of: file), width < net.config.baseWidth {
                var narrow = net.config
                narrow.baseWidth = width
                try net.load(stateDict: UNetWidening.widen(file, config: narrow, to: net.config.baseWidth, seed: options.seed,
                                                           source: initialWeights),
                             source: initialWeights)
                return width
            }
            try net.load(stateDict: file, source: initialWeights)
            return nil
        } catch {
            throw ImagingError(.trainingStateInvalid, input: initialWeights, reason: "the starting weights do not fit the plan (\(error))",
                               remedy: "fine-tune with the plan.json that belongs to these weights, or with a plan that only widens their network (larger baseWidth, same depth and outputs)")
        }
    }

    /// Whether `output` holds a resumable state of this run: nil without a state, true when it
    /// matches (plan, loss, options, data, starting weights), false when it belongs to another run.
    public func savedStateMatches(data: TrainingData, output: String) throws(ImagingError) -> Bool? {
        guard let saved = try? RunFiles(output: output).readProgress() else {
            return FileManager.default.fileExists(atPath: RunFiles(output: output).state) ? false : nil
        }
        return saved.runKey == (try runKey(data: data))
    }

    /// Trains on `data`, writing the state under `output/training/` and, at the end, the model
    /// folder and reports into `output` (`ModelFolder.write`). With `resume`, continues from the
    /// saved state (which must belong to the same plan, loss, options and data); without it, an
    /// existing state is replaced. `shouldStop` is polled after each step (e.g. a SIGINT flag).
    public func run(data: TrainingData, output: String, resume: Bool, shouldStop: () -> Bool = { false },
                    onEvent: (TrainingEvent) -> Void = { _ in }) throws(ImagingError) -> TrainingReport {
        if loss.terms.contains(where: { $0.name.lowercased() == "xent" }),
           let c = data.train.first(where: { !$0.info.superLabels.isEmpty }) {
            throw ImagingError(.trainingDataInvalid, input: c.caseName,
                               reason: "the loss term xent (plain cross-entropy) cannot read super labels, and dataset \(c.dataset) has them",
                               remedy: "use a partial-label loss (xent_plus, xent_super, mce, dice_soft…; docs/losses.md) or leave those cases out")
        }
        let files = RunFiles(output: output)
        try files.prepare()
        let net = makeNetwork()
        let adamConfig = AdamConfig(learningRate: options.learningRate, weightDecay: options.weightDecay)
        var adam = Adam(config: adamConfig)
        var schedule = ReduceOnPlateauSchedule(rate: options.learningRate, factor: options.plateauFactor,
                                               patience: options.plateauPatience, minimumRate: options.minimumLearningRate)
        let key = try runKey(data: data)
        var progress = RunProgress(runKey: key)
        let saved = resume ? try files.readProgress() : nil
        if saved == nil, let width = try loadInitialWeights(into: net) {
            onEvent(.widened(from: width, to: net.config.baseWidth))
        }
        if let saved {
            guard saved.runKey == key else {
                throw ImagingError(.trainingStateInvalid, input: files.state,
                                   reason: "the saved state belongs to another run (plan, loss, options other than --steps, or data differ)",
                                   remedy: "resume with the original settings and data, or train into a new output folder")
            }
            do { adam = try net.loadTrainingState(from: files.state, config: adamConfig) } catch {
                throw ImagingError(.trainingStateInvalid, input: files.state, reason: "\(error)", remedy: "remove training/ to start over")
            }
            progress = saved
            for (i, v) in progress.validations.enumerated() {
                _ = schedule.rate(afterEpoch: i + 1, validationLoss: 1 - v.meanDice)
            }
            adam.config.learningRate = schedule.current
            onEvent(.resumed(step: progress.step))
        }
        let h = plan.inputSize[0], w = plan.inputSize[1]
        let sampler = BatchSampler(cases: data.train, options: options.sampler, seed: options.seed, weights: data.trainWeights,
                                   inputSize: (h, w))
        let start = DispatchTime.now().uptimeNanoseconds
        var trainingNanos: UInt64 = 0, stepsThisRun = 0
        var reason = StopReason.completed
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        let secondsBefore = progress.seconds

        while progress.step < options.steps {
            if shouldStop() { reason = .interrupted; break }
            if let limit = options.maxWallSeconds, elapsed() >= limit { reason = .timeLimit; break }
            let t0 = DispatchTime.now().uptimeNanoseconds
            let batch = sampler.batch(step: progress.step)
            let value = net.trainStep(input: batch.images, target: batch.targets, info: batch.info, batch: batch.count,
                                      height: h, width: w, loss: loss, optimizer: &adam, clipNorm: options.clipNorm)
            trainingNanos += DispatchTime.now().uptimeNanoseconds - t0
            stepsThisRun += 1
            progress.step += 1
            progress.pendingLosses.append(value)
            progress.recentLosses = Array((progress.recentLosses + [value]).suffix(50))
            let rate = Double(stepsThisRun) / max(Double(trainingNanos) / 1e9, 1e-9)
            onEvent(.step(StepProgress(step: progress.step, totalSteps: options.steps, loss: value,
                                       meanLoss: progress.recentLosses.reduce(0, +) / Double(progress.recentLosses.count),
                                       learningRate: adam.config.learningRate, stepsPerSecond: rate,
                                       etaSeconds: Double(options.steps - progress.step) / rate)))
            var stopEarly = false
            if progress.step % options.validateEvery == 0 || progress.step == options.steps {
                stopEarly = try validate(net: net, data: data, files: files, progress: &progress, schedule: &schedule,
                                         adam: &adam, onEvent: onEvent)
            }
            if progress.step % options.checkpointEvery == 0 {
                progress.seconds = secondsBefore + elapsed()
                try files.saveState(net: net, adam: adam, progress: progress)
                onEvent(.checkpointed(step: progress.step))
            }
            if stopEarly { reason = .earlyStopped; break }
        }
        // Stopped by the time bound between validations: validate the last weights too, so the
        // shipped weights are the best of everything trained.
        if reason == .timeLimit, progress.step > 0, progress.validations.last?.step != progress.step {
            _ = try validate(net: net, data: data, files: files, progress: &progress, schedule: &schedule, adam: &adam, onEvent: onEvent)
        }
        progress.seconds = secondsBefore + elapsed()
        try files.saveState(net: net, adam: adam, progress: progress)
        onEvent(.checkpointed(step: progress.step))
        var report = TrainingReport(status: reason, plan: plan, loss: lossText, options: options, stepsDone: progress.step,
                                    learningRate: adam.config.learningRate, seconds: progress.seconds,
                                    data: .init(data), validations: progress.validations, bestStep: progress.bestStep,
                                    best: progress.bestResult)
        report.lineage = lineage
        try ModelFolder.write(report: report, net: net, files: files, output: output)
        return report
    }

    /// One validation: scores, best checkpoint, schedule, early-stop decision (true = stop).
    private func validate(net: UNet, data: TrainingData, files: RunFiles, progress: inout RunProgress,
                          schedule: inout ReduceOnPlateauSchedule, adam: inout Adam,
                          onEvent: (TrainingEvent) -> Void) throws(ImagingError) -> Bool {
        let meanLoss = progress.pendingLosses.isEmpty ? 0 : progress.pendingLosses.reduce(0, +) / Double(progress.pendingLosses.count)
        progress.pendingLosses = []
        guard !data.validation.isEmpty else { return false }
        let result = Validator.evaluate(net: net, cases: data.validation, plan: plan, batch: options.validationBatch)
        let isBest = progress.bestResult.map { result.meanDice > $0.meanDice } ?? true
        if isBest {
            progress.bestResult = result
            progress.bestStep = progress.step
            try files.saveWeights(net: net, to: files.best)
        }
        let rate = schedule.rate(afterEpoch: progress.validations.count + 1, validationLoss: 1 - result.meanDice)
        adam.config.learningRate = rate
        progress.validations.append(ValidationRecord(step: progress.step, meanDice: result.meanDice,
                                                     medianAbsVolumeErrorPercent: result.medianAbsVolumeErrorPercent,
                                                     meanTrainingLoss: meanLoss, learningRate: rate))
        onEvent(.validated(step: progress.step, result: result, isBest: isBest, learningRate: rate))
        guard options.earlyStopPatience > 0, let bestStep = progress.bestStep else { return false }
        let sinceBest = progress.validations.filter { $0.step > bestStep }.count
        return sinceBest >= options.earlyStopPatience
    }
}
