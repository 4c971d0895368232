import Anatomy
import Dispatch
import Foundation
import ImagingCore
import NeuralEngine
import Segmentation

/// The partial-label experiment of Wong et al. (Table I) on phantom datasets: every
/// configuration trains with the same seed, batch size and number of slices, and is scored on the
/// same held-out, fully annotated validation cases (presence-aware Dice and volume error on the
/// native grid, `Validator`). docs/partial-labels.md.
///
/// Each finished configuration keeps `runs/<id>/result.json` (with a key over the options, the
/// configuration and the data), so a rerun skips it; an unfinished one resumes from its
/// trainers' saved states.
public final class PartialLabelBench {
    /// The settings every configuration shares.
    public struct Options: Codable, Sendable, Equatable {
        /// Optimiser steps per configuration (split between the specific classifiers).
        public var steps: Int
        public var batch = 9
        public var learningRate: Float = 1e-3
        public var seed: UInt64 = 1
        public var foreground = 0.5
        public var augment = true
        public var width = 8
        public var depth = 4
        public var size = 128
        public init(steps: Int) { self.steps = steps }
    }

    /// What happened, for progress lines (the library prints nothing itself).
    public enum Event: Sendable {
        /// Configuration `index` (0-based) of `count` starts training.
        case started(index: Int, count: Int, configuration: BenchConfiguration)
        /// A training step of the classifier named `classifier`.
        case step(configuration: String, classifier: String, progress: StepProgress)
        /// Configuration done (`reused`: its result was already on disk).
        case finished(index: Int, count: Int, result: BenchResult, reused: Bool)
        /// The time budget would be exceeded by the next configuration: the run stops here.
        case budgetReached(remaining: [String])
    }

    public let catalog: LabelCatalog
    public let options: Options
    public let output: String
    /// Training and validation cases (validation: fully annotated, held-out subjects).
    public let trainCases: [TrainingCase]
    public let validationCases: [TrainingCase]
    /// Engine threads of each network (nil: `EngineThreads.threadCount`).
    public var threadCount: Int?
    private var hashes: [String: String] = [:]

    public init(catalog: LabelCatalog, options: Options, trainCases: [TrainingCase], validationCases: [TrainingCase],
                output: String) throws(ImagingError) {
        guard !trainCases.isEmpty, !validationCases.isEmpty else {
            throw ImagingError(.trainingDataInvalid, input: output, reason: "the experiment needs training and validation cases",
                               remedy: "generate the phantom datasets first (segvol bench partial-labels does)")
        }
        self.catalog = catalog
        self.options = options
        self.output = output
        self.trainCases = trainCases
        self.validationCases = validationCases
        for c in trainCases + validationCases { hashes[c.folder] = try c.contentHash() }
    }

    /// The regions of the validation cases, in catalog order.
    public var regions: [Region] { Region.allCases.filter { r in validationCases.contains { $0.labels.region == r } } }

    /// The union plan of the generic classifier.
    public var unionPlan: ModelPlan {
        BenchPlans.plan(regions: regions, catalog: catalog, width: options.width, depth: options.depth, size: options.size)
    }

    /// Whether every case of `dataset` annotates every class of its region with single labels.
    func isFullyLabelled(_ dataset: String) -> Bool {
        trainCases.filter { $0.labels.dataset == dataset }.allSatisfy { c in
            let present = Set(c.labels.present)
            return catalog.classes(in: c.labels.region).allSatisfy { present.contains($0.name) }
                && c.labels.labels.values.allSatisfy { $0.names.count == 1 }
        }
    }

    /// One network of a configuration: its plan, training cases and steps.
    struct Classifier {
        var name: String
        var plan: ModelPlan
        var train: [TrainingCase]
        var validation: [TrainingCase]
        var steps: Int
    }

    /// The classifiers a configuration trains.
    func classifiers(for config: BenchConfiguration) throws(ImagingError) -> [Classifier] {
        let union = unionPlan
        func regionPlan(_ r: Region) -> ModelPlan {
            BenchPlans.plan(regions: [r], catalog: catalog, width: options.width, depth: options.depth, size: options.size)
        }
        switch config.kind {
        case .untrained:
            return [Classifier(name: "model", plan: union, train: [], validation: validationCases, steps: 0)]
        case .generic:
            return [Classifier(name: "model", plan: union, train: trainCases, validation: validationCases, steps: options.steps)]
        case .thigh:
            let train = trainCases.filter { $0.labels.region == .thigh }
            let validation = validationCases.filter { $0.labels.region == .thigh }
            guard !train.isEmpty, !validation.isEmpty else {
                throw ImagingError(.trainingDataInvalid, input: config.id, reason: "no thigh training or validation case",
                                   remedy: "include thigh datasets, or leave out the thigh-* configurations")
            }
            return [Classifier(name: "thigh", plan: regionPlan(.thigh), train: train, validation: validation, steps: options.steps)]
        case .specific:
            var out: [Classifier] = []
            let rs = regions
            for (i, r) in rs.enumerated() {
                let full = Set(trainCases.filter { $0.labels.region == r }.map(\.labels.dataset)).filter(isFullyLabelled)
                let train = trainCases.filter { full.contains($0.labels.dataset) }
                guard !train.isEmpty else {
                    throw ImagingError(.trainingDataInvalid, input: config.id, reason: "no fully labelled \(r.rawValue) dataset to train a specific classifier on",
                                       remedy: "include the \(r.rawValue)-full dataset")
                }
                // Steps split evenly; the first classifiers take the remainder.
                let steps = options.steps / rs.count + (i < options.steps % rs.count ? 1 : 0)
                out.append(Classifier(name: r.rawValue, plan: regionPlan(r), train: train,
                                      validation: validationCases.filter { $0.labels.region == r }, steps: steps))
            }
            return out
        }
    }

    /// What makes a stored result reusable: options, configuration, and the data of every case.
    func resultKey(_ config: BenchConfiguration) -> String {
        let data = (trainCases.map { "t:\($0.name):\(hashes[$0.folder]!)" } + validationCases.map { "v:\($0.name):\(hashes[$0.folder]!)" })
            .sorted().joined(separator: "\n")
        return SHA256.hex("\(String(decoding: prettyJSON(options), as: UTF8.self))|\(config.kind.rawValue)|\(config.loss)|\(data)")
    }

    func folder(_ config: BenchConfiguration) -> String { "\(output)/runs/\(config.id)" }

    /// Runs `configurations` in order, reusing stored results, and writes `results.json` and
    /// `results.md` after each one. Stops before a configuration that would end after
    /// `budgetSeconds` (estimated from the seconds per step so far), or when `shouldStop`
    /// answers true during training (the interrupted configuration resumes on a rerun).
    public func run(configurations: [BenchConfiguration], budgetSeconds: Double? = nil, shouldStop: () -> Bool = { false },
                    onEvent: (Event) -> Void = { _ in }) throws(ImagingError) -> [BenchResult] {
        var results: [BenchResult] = []
        let start = DispatchTime.now().uptimeNanoseconds
        var trainedSeconds = 0.0, trainedSteps = 0
        for (index, config) in configurations.enumerated() {
            let key = resultKey(config)
            let resultPath = folder(config) + "/result.json"
            if let data = FileManager.default.contents(atPath: resultPath),
               let stored = try? JSONDecoder().decode(BenchResult.self, from: data), stored.key == key {
                results.append(stored)
                onEvent(.finished(index: index, count: configurations.count, result: stored, reused: true))
                continue
            }
            if let budgetSeconds, trainedSteps > 0 {
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                let estimate = trainedSeconds / Double(trainedSteps) * Double(config.kind == .untrained ? 0 : options.steps)
                if elapsed + estimate > budgetSeconds {
                    onEvent(.budgetReached(remaining: configurations[index...].map(\.id)))
                    break
                }
            }
            onEvent(.started(index: index, count: configurations.count, configuration: config))
            let t0 = DispatchTime.now().uptimeNanoseconds
            guard let result = try runOne(config, key: key, shouldStop: shouldStop, onEvent: onEvent) else { break }
            if result.steps > 0 {
                trainedSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                trainedSteps += result.steps
            }
            do { try FileManager.default.createDirectory(atPath: folder(config), withIntermediateDirectories: true) } catch {
                throw ImagingError(.writeFailed, input: folder(config), reason: "\(error)", remedy: "check free disk space and permissions")
            }
            try writeDurably(prettyJSON(result), to: resultPath)
            results.append(result)
            try BenchReport.write(results: results, options: options, plan: unionPlan, to: output)
            onEvent(.finished(index: index, count: configurations.count, result: result, reused: false))
        }
        try BenchReport.write(results: results, options: options, plan: unionPlan, to: output)
        return results
    }

    /// Trains and scores one configuration; nil when interrupted.
    func runOne(_ config: BenchConfiguration, key: String, shouldStop: () -> Bool,
                onEvent: (Event) -> Void) throws(ImagingError) -> BenchResult? {
        var scores: [CaseScore] = []
        var seconds = 0.0, steps = 0
        let cache = output + "/cache"
        for classifier in try classifiers(for: config) {
            let validation = try classifier.validation.map { c throws(ImagingError) -> ValidationCase in
                let (prepared, _) = try CaseLoader.prepare(c, contentHash: hashes[c.folder], plan: classifier.plan, catalog: catalog, cacheDirectory: cache,
                                                           window: .covering(maxPixels: WindowPolicy.defaultMaxPixels))
                let native = try CaseLoader.readNativeTargets(c, plan: classifier.plan, catalog: catalog, imageGrid: prepared.transform.sourceGrid)
                return ValidationCase(prepared: prepared, nativeTargets: native, truth: c.truthPath.flatMap(CaseTruth.read))
            }
            var trainOptions = TrainingOptions(steps: max(classifier.steps, 1))
            trainOptions.seed = options.seed
            trainOptions.learningRate = options.learningRate
            trainOptions.sampler = SamplerOptions(batchSize: options.batch, foregroundFraction: options.foreground,
                                                  augmentation: options.augment ? Augmentation() : .none)
            trainOptions.validateEvery = trainOptions.steps
            trainOptions.checkpointEvery = 100
            trainOptions.earlyStopPatience = 0
            let trainer: Trainer
            do { trainer = try Trainer(plan: classifier.plan, loss: config.loss.isEmpty ? "xent_base" : config.loss, options: trainOptions) } catch {
                throw ImagingError(.benchConfigurationInvalid, input: config.id, reason: error.description, remedy: "fix the loss string")
            }
            trainer.threadCount = threadCount
            if classifier.steps == 0 {
                let net = trainer.makeNetwork()
                scores += Validator.evaluate(net: net, cases: validation, plan: classifier.plan, batch: 8).cases
                continue
            }
            var train: [PreparedCase] = []
            var snapshot = SHA256()
            for c in classifier.train {
                train.append(try CaseLoader.prepare(c, contentHash: hashes[c.folder], plan: classifier.plan, catalog: catalog, cacheDirectory: cache,
                                                    window: .planSize).0)
                snapshot.update(Array("\(c.name):\(hashes[c.folder]!)\n".utf8))
            }
            for v in validation { snapshot.update(Array("validation:\(v.prepared.caseName)\n".utf8)) }
            let data = TrainingData(train: train, validation: validation, split: DataSplit(validationFraction: 0), snapshotHash: snapshot.finalizeHex(),
                                    cacheHits: 0, skipped: [])
            let out = folder(config) + "/" + classifier.name
            let hasState = FileManager.default.fileExists(atPath: out + "/training/state.safetensors")
            func trainClassifier(resume: Bool) throws(ImagingError) -> TrainingReport {
                try trainer.run(data: data, output: out, resume: resume, shouldStop: shouldStop) { event in
                    if case .step(let p) = event { onEvent(.step(configuration: config.id, classifier: classifier.name, progress: p)) }
                }
            }
            var report: TrainingReport
            do { report = try trainClassifier(resume: hasState) } catch where error.code == .trainingStateInvalid {
                // A state of other settings: start this classifier over.
                try? FileManager.default.removeItem(atPath: out)
                report = try trainClassifier(resume: false)
            }
            if report.status == .interrupted { return nil }
            if report.validations.last?.step != classifier.steps || report.stepsDone != classifier.steps {
                // A state from a longer run (more --steps before): start this classifier over.
                try? FileManager.default.removeItem(atPath: out)
                report = try trainClassifier(resume: false)
                if report.status == .interrupted { return nil }
            }
            guard let best = report.best else {
                throw ImagingError(.trainingDataInvalid, input: out, reason: "the run ended without a validation",
                                   remedy: "rerun the bench; see \(out)/report.md")
            }
            scores += best.cases
            seconds += report.seconds
            steps += report.stepsDone
        }
        let validation = Validator.summarize(scores)
        return BenchResult(id: config.id, kind: config.kind, loss: config.loss, steps: steps, slices: steps * options.batch,
                           seconds: seconds, key: key, validation: validation)
    }
}
