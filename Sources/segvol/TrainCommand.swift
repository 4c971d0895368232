#if canImport(Glibc)
import Glibc
#endif
import Anatomy
import ArgumentParser
import Dispatch
import Foundation
import ImagingCore
import NeuralEngine
import Segmentation
import Training

/// Set by SIGINT/SIGTERM: the loop finishes its step, checkpoints and reports.
nonisolated(unsafe) private var stopRequested: sig_atomic_t = 0

/// `segvol train`: trains a model folder from annotated cases (docs/training.md).
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a segmentation model on partially labelled cases.",
        discussion: """
            DIR holds one folder per case: image.nii.gz, labels.nii.gz, case.json (and truth.json \
            for phantoms), as `segvol phantom` writes them. The model folder gets plan.json, \
            weights.safetensors, metrics.json, MODEL.md, report.json and report.md; training/ \
            keeps the resumable state. Ctrl-C (or SIGTERM) stops after the current step with a \
            checkpoint; --resume continues. Exit 0 when done (also after an early stop or \
            --max-minutes), 75 when interrupted (resume later). Site mode (no --data, no \
            --plan; `segvol train --config /etc/segvol/segvol.toml`): takes new annotations \
            into the dataset store and fine-tunes the current model when the store holds \
            cases it has not seen, else says "nothing to do". See docs/training.md.
            """
    )

    @Option(help: "Folder of case folders (explicit mode; leave out with --plan for site mode).") var data: String?
    @Option(help: "plan.json describing the network, input size, outputs and region profiles.") var plan: String?
    @Option(help: "Loss config string, e.g. \"xent_plus + dice_log\" (docs/losses.md).") var loss: String?
    @Option(help: "Total optimiser steps (mini-batches); in site mode overrides retrain.steps.") var steps: Int?
    @Option(help: "Output model folder.") var out: String?
    @Option(name: .customLong("init"), help: "Fine-tune: start from these weights (weights.safetensors of a model with this plan, or of a narrower one to widen).") var initWeights: String?
    @Option(help: "Seed for weights, batches and augmentation.") var seed: UInt64 = 1
    @Flag(help: "Continue from the state in OUT/training/.") var resume = false
    @Option(help: "Slices per batch.") var batch: Int = 8
    @Option(help: "Share of batch slices with foreground.") var foreground: Double = 0.5
    @Option(help: "Adam learning rate (drops ×0.1 on plateau down to 1e-5).") var lr: Float = 1e-4
    @Option(help: "Validate every N steps.") var validateEvery: Int = 200
    @Option(help: "Write the resumable state every N steps.") var checkpointEvery: Int = 50
    @Option(help: "Stop after N validations without improvement (0: never).") var earlyStop: Int = 8
    @Option(help: "Validations without improvement before the rate drops.") var plateauPatience: Int = 3
    @Option(help: "Stop after this many minutes (checkpoint and report are written); in site mode overrides retrain.max_minutes.") var maxMinutes: Double?
    @Option(help: "Share of subjects per dataset held out when split.json is first written.") var validationFraction: Double = 0.2
    @Option(help: "The frozen split file (default: DATA/split.json).") var split: String?
    @Option(help: "Slice cache folder (default: DATA/.segvol-cache).") var cache: String?
    @Flag(help: "Do not read or write the slice cache.") var noCache = false
    @Flag(help: "Turn off augmentation.") var noAugment = false
    @Option(help: "Augmentation shift: up to this fraction of the input window in x and y (0: none).") var maxShift: Double = Augmentation().maxShiftFraction
    @Option(help: "Engine threads (default: all cores).") var threads: Int?
    @Option(help: "Explicit mode: configuration folder holding labels.toml. Site mode: segvol.toml (default /etc/segvol/segvol.toml).") var config: String?

    /// Site mode: neither --data nor --plan (docs/training.md "Site mode").
    var siteMode: Bool { data == nil && plan == nil }

    func validate() throws {
        if siteMode {
            guard loss == nil, out == nil, initWeights == nil, !resume else {
                throw ValidationError("site mode (no --data, no --plan) takes loss, output and starting weights from segvol.toml and the current model; give --data and --plan for an explicit run")
            }
        } else {
            guard data != nil, plan != nil, loss != nil, steps != nil, out != nil else {
                throw ValidationError("an explicit run needs --data, --plan, --loss, --steps and --out (or none of --data/--plan for site mode)")
            }
        }
        if let steps { guard steps >= 1 else { throw ValidationError("--steps must be at least 1") } }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard (0...1).contains(foreground) else { throw ValidationError("--foreground must be in 0...1") }
        guard validateEvery >= 1, checkpointEvery >= 1 else { throw ValidationError("--validate-every and --checkpoint-every must be at least 1") }
        guard (0..<1).contains(validationFraction) else { throw ValidationError("--validation-fraction must be in 0..<1") }
        guard lr > 0 else { throw ValidationError("--lr must be positive") }
        guard (0...0.5).contains(maxShift) else { throw ValidationError("--max-shift must be in 0...0.5 (a fraction of the input window)") }
    }

    func run() throws {
        ensureBLASEnvironment()
        EngineThreads.configure(threadCount: threads)
        do {
            if siteMode { try trainSite() } else { try train() }
        } catch let error as ImagingError {
            report(error)
            throw ExitCode(error.code == .trainingDataInvalid || error.code == .planInvalid ? ExitStatus.dataError : ExitStatus.forError(error))
        } catch let error as EngineError {
            FileHandle.standardError.write(Data("segvol: \(error.description)\n".utf8))
            throw ExitCode(ExitStatus.usage)
        }
    }

    private func train() throws {
        let data = data!, out = out!, loss = loss!
        let catalog = try LabelCatalog.load(configDirectory: config)
        let modelPlan = try readPlan(catalog: catalog)
        var options = TrainingOptions(steps: steps!)
        options.seed = seed
        var augmentation = Augmentation()
        augmentation.maxShiftFraction = maxShift
        options.sampler = SamplerOptions(batchSize: batch, foregroundFraction: foreground,
                                         augmentation: noAugment ? .none : augmentation)
        options.learningRate = lr
        options.validateEvery = validateEvery
        options.checkpointEvery = checkpointEvery
        options.earlyStopPatience = earlyStop
        options.plateauPatience = plateauPatience
        options.maxWallSeconds = maxMinutes.map { $0 * 60 }
        options.validationFraction = validationFraction
        let trainer = try Trainer(plan: modelPlan, loss: loss, options: options)
        trainer.initialWeights = initWeights
        if !resume, FileManager.default.fileExists(atPath: out + "/training/state.safetensors") {
            throw ImagingError(.trainingStateInvalid, input: out, reason: "the folder holds the state of an earlier run",
                               remedy: "pass --resume to continue it, or choose another --out folder")
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)

        let loadStart = DispatchTime.now().uptimeNanoseconds
        let cases = try TrainingCase.discover(in: data, catalog: catalog)
        let trainingData = try TrainingData.load(cases: cases, plan: trainer.plan, catalog: catalog,
                                                 splitPath: split ?? data + "/split.json",
                                                 cacheDirectory: noCache ? nil : (cache ?? data + "/.segvol-cache"),
                                                 validationFraction: validationFraction)
        note(String(format: "data: %d training and %d validation cases (%d from the cache) in %.1f s; snapshot %@",
                    trainingData.train.count, trainingData.validation.count, trainingData.cacheHits,
                    Double(DispatchTime.now().uptimeNanoseconds - loadStart) / 1e9, String(trainingData.snapshotHash.prefix(16))))
        for s in trainingData.skipped { note("skipped \(s)") }

        installStopHandlers()
        let progress = ProgressPrinter()
        let result = try trainer.run(data: trainingData, output: out, resume: resume, shouldStop: { stopRequested != 0 }, onEvent: progress.show)
        print("\(result.status.rawValue) after \(result.stepsDone) steps; model in \(out) (report.md)")
        if result.status == .interrupted { throw ExitCode(Self.interruptedStatus) }
    }

    /// EX_TEMPFAIL: stopped on request; `--resume` continues.
    static let interruptedStatus: Int32 = 75

    private func readPlan(catalog: LabelCatalog) throws -> ModelPlan {
        let plan = plan!
        guard let bytes = FileManager.default.contents(atPath: plan) else {
            throw ImagingError(.notFound, input: plan, reason: "the plan file cannot be read", remedy: "pass --plan with a plan.json")
        }
        let decoded: ModelPlan
        do { decoded = try JSONDecoder().decode(ModelPlan.self, from: bytes) } catch {
            throw ImagingError(.planInvalid, input: plan, reason: "not a valid plan.json (\(error))", remedy: "see docs/training.md for the plan format")
        }
        try decoded.validate(against: catalog, source: plan)
        return decoded
    }
}

/// Prints the progress lines of a run: at most one step line per 2 s, one per validation.
final class ProgressPrinter {
    private var lastLine = 0.0

    func show(_ event: TrainingEvent) {
        switch event {
        case .step(let p):
            let now = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
            guard now - lastLine >= 2 || p.step == p.totalSteps || p.step == 1 else { return }
            lastLine = now
            print(String(format: "step %d/%d  loss %.4f (mean %.4f)  lr %.1e  %.2f it/s  ETA %@", p.step, p.totalSteps, p.loss,
                         p.meanLoss, p.learningRate, p.stepsPerSecond, duration(p.etaSeconds)))
        case .validated(let step, let r, let isBest, let rate):
            let vol = r.medianAbsVolumeErrorPercent.map { String(format: ", median |volume error| %.1f %%", $0) } ?? ""
            print(String(format: "validation at step %d: mean Dice %.4f%@%@; lr %.1e", step, r.meanDice, vol, isBest ? " (best)" : "", rate))
        case .resumed(let step):
            print("resumed at step \(step)")
        case .widened(let from, let to):
            print("starting weights widened from base width \(from) to \(to) (Net2WiderNet, docs/training.md)")
        case .checkpointed:
            break
        }
        fflush(nil)
    }
}

/// Installs the SIGINT/SIGTERM handlers that ask the loop to stop after its step.
func installStopHandlers() {
    signal(SIGINT) { _ in stopRequested = 1 }
    signal(SIGTERM) { _ in stopRequested = 1 }
}

/// True once SIGINT or SIGTERM arrived.
var stopWasRequested: Bool { stopRequested != 0 }

/// "1h02m", "3m05s", "42s".
private func duration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
}
