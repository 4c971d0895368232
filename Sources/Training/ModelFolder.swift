import Foundation
import ImagingCore
import NeuralEngine
import Segmentation

/// The record of one run: `report.json`, and the source of metrics.json, report.md and MODEL.md.
public struct TrainingReport: Codable, Sendable {
    public var format = "segvol-training-report"
    public var version = 1
    public var status: StopReason
    public var plan: ModelPlan
    public var loss: String
    public var options: TrainingOptions
    public var stepsDone: Int
    public var learningRate: Float
    public var seconds: Double
    public var data: DataSummary
    public var validations: [ValidationRecord]
    /// Step of the shipped weights (the best validation), nil without validation data.
    public var bestStep: Int?
    public var best: ValidationResult?
    /// Fine-tuning runs: the parent model and the store cases.
    public var lineage: ModelLineage?

    public struct DataSummary: Codable, Sendable {
        public var snapshotHash: String
        public var trainCases: Int
        public var validationCases: Int
        /// Dataset → [train, validation] cases.
        public var datasets: [String: [Int]]
        public var trainSubjects: Int
        public var validationSubjects: Int
        public var cacheHits: Int
        public var skipped: [String]

        init(_ d: TrainingData) {
            snapshotHash = d.snapshotHash
            trainCases = d.train.count
            validationCases = d.validation.count
            datasets = d.datasetCounts
            trainSubjects = Set(d.train.map(\.subject)).count
            validationSubjects = Set(d.validation.map(\.prepared.subject)).count
            cacheHits = d.cacheHits
            skipped = d.skipped
        }
    }
}

/// Where a fine-tuned model comes from (metrics.json, report.json).
public struct ModelLineage: Codable, Sendable, Equatable {
    /// The version of the model it was fine-tuned from.
    public var parentModel: String
    /// Content hashes of the dataset-store cases it was trained and validated with (sorted):
    /// the next site run retrains only when the store holds a case not listed here.
    public var storeCases: [String]
    /// `DatasetIndex.snapshot` of those cases.
    public var storeSnapshot: String

    public init(parentModel: String, storeCases: [String], storeSnapshot: String) {
        self.parentModel = parentModel
        self.storeCases = storeCases.sorted()
        self.storeSnapshot = storeSnapshot
    }
}

/// `metrics.json` of a model folder (DESIGN.md "Model format").
public struct ModelMetrics: Codable, Sendable {
    public var format = "segvol-model-metrics"
    public var version = 1
    public var status: StopReason
    public var loss: String
    public var steps: Int
    public var bestStep: Int?
    public var seed: UInt64
    public var dataSnapshotHash: String
    public var parentModel: String?
    /// Class name → mean validation Dice (presence-aware, native grid).
    public var validationDice: [String: Double]
    public var meanValidationDice: Double?
    /// Class name → median absolute volume error (%) against the exact phantom volumes.
    public var volumeErrorPercent: [String: Double]
    public var medianAbsVolumeErrorPercent: Double?
    public var trainCases: Int
    public var validationCases: Int
    public var trainingSeconds: Double
    /// Fine-tuned models: store case hashes and their snapshot (see `ModelLineage`).
    public var storeCases: [String]?
    public var storeSnapshot: String?
}

/// Writes a run's model folder: plan.json, weights.safetensors (the best validation's weights,
/// or the last ones without validation), metrics.json, MODEL.md, report.json, report.md.
public enum ModelFolder {
    static func write(report: TrainingReport, net: UNet, files: RunFiles, output: String) throws(ImagingError) {
        try writeDurably(prettyJSON(report.plan), to: output + "/plan.json")
        let weights = output + "/weights.safetensors"
        if report.bestStep != nil, let best = FileManager.default.contents(atPath: files.best) {
            try writeDurably(Array(best), to: weights)
        } else {
            try files.saveWeights(net: net, to: weights)
        }
        let metrics = ModelMetrics(status: report.status, loss: report.loss, steps: report.stepsDone, bestStep: report.bestStep,
                                   seed: report.options.seed, dataSnapshotHash: report.data.snapshotHash,
                                   parentModel: report.lineage?.parentModel,
                                   validationDice: report.best?.classDice ?? [:], meanValidationDice: report.best?.meanDice,
                                   volumeErrorPercent: report.best?.classVolumeErrorPercent ?? [:],
                                   medianAbsVolumeErrorPercent: report.best?.medianAbsVolumeErrorPercent,
                                   trainCases: report.data.trainCases, validationCases: report.data.validationCases,
                                   trainingSeconds: report.seconds, storeCases: report.lineage?.storeCases,
                                   storeSnapshot: report.lineage?.storeSnapshot)
        try writeDurably(prettyJSON(metrics), to: output + "/metrics.json")
        try writeDurably(prettyJSON(report), to: output + "/report.json")
        try writeDurably(Array(markdown(report).utf8), to: output + "/report.md")
        if !FileManager.default.fileExists(atPath: output + "/MODEL.md") {
            try writeDurably(Array(modelCard(report).utf8), to: output + "/MODEL.md")
        }
    }

    /// report.md: the run in tables.
    public static func markdown(_ r: TrainingReport) -> String {
        var s = "# Training report\n\n"
        s += "| | |\n|---|---|\n"
        s += "| status | \(r.status.rawValue) |\n| steps | \(r.stepsDone) of \(r.options.steps) |\n"
        s += "| loss | `\(r.loss)` |\n| network | U-Net width \(r.plan.architecture.baseWidth), depth \(r.plan.architecture.depth), input \(r.plan.inputSize.map(String.init).joined(separator: "×")), \(r.plan.outputs.count) outputs |\n"
        s += "| batch | \(r.options.sampler.batchSize), foreground share \(r.options.sampler.foregroundFraction) |\n"
        s += String(format: "| final learning rate | %.1e |\n| time | %.0f s |\n", r.learningRate, r.seconds)
        s += "| data snapshot | `\(r.data.snapshotHash.prefix(16))…` |\n"
        s += "| cases | \(r.data.trainCases) train (\(r.data.trainSubjects) subjects), \(r.data.validationCases) validation (\(r.data.validationSubjects) subjects) |\n"
        s += "| best step | \(r.bestStep.map(String.init) ?? "–") |\n\n"
        s += "## Datasets\n\n| dataset | train | validation |\n|---|---|---|\n"
        for (name, n) in r.data.datasets.sorted(by: { $0.key < $1.key }) { s += "| \(name) | \(n[0]) | \(n[1]) |\n" }
        if !r.data.skipped.isEmpty { s += "\nSkipped: " + r.data.skipped.joined(separator: "; ") + "\n" }
        if !r.validations.isEmpty {
            s += "\n## Validations\n\n| step | training loss | mean Dice | median abs. volume error | lr |\n|---|---|---|---|---|\n"
            for v in r.validations {
                s += String(format: "| %d | %.4f | %.4f | %@ | %.1e |\n", v.step, v.meanTrainingLoss, v.meanDice,
                            v.medianAbsVolumeErrorPercent.map { String(format: "%.1f %%", $0) } ?? "–", v.learningRate)
            }
        }
        if let best = r.best {
            s += "\n## Best validation, per class\n\n| class | Dice | median abs. volume error |\n|---|---|---|\n"
            let names = Set(best.classDice.keys).union(best.classVolumeErrorPercent.keys).sorted()
            for n in names {
                s += "| \(n) | \(best.classDice[n].map { String(format: "%.3f", $0) } ?? "–") | \(best.classVolumeErrorPercent[n].map { String(format: "%.1f %%", $0) } ?? "–") |\n"
            }
            s += String(format: "\nMean Dice over classes: %.3f", best.meanDice)
            if let m = best.medianAbsVolumeErrorPercent { s += String(format: "; median absolute volume error: %.1f %%", m) }
            s += ".\n"
        }
        return s
    }

    /// A first MODEL.md for a trained folder (kept when the folder already has one).
    static func modelCard(_ r: TrainingReport) -> String {
        var s = "# segvol model\n\n"
        s += "Trained by `segvol train` with loss `\(r.loss)` for \(r.stepsDone) steps (status: \(r.status.rawValue)).\n\n"
        s += "- Intended use: segmentation of the classes in plan.json for the regions it lists; a starting point for fine-tuning.\n"
        s += "- Training data: snapshot `\(r.data.snapshotHash)`, \(r.data.trainCases) training and \(r.data.validationCases) validation cases.\n"
        if let b = r.best {
            s += String(format: "- Validation: mean Dice %.3f", b.meanDice)
            if let m = b.medianAbsVolumeErrorPercent { s += String(format: ", median absolute volume error %.1f %%", m) }
            s += " (details in metrics.json and report.md).\n"
        } else {
            s += "- Not validated (no validation subjects).\n"
        }
        s += "- Known limits: only as good as its training data; check the scores per class before use.\n"
        return s
    }
}
