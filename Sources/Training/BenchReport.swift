import Foundation
import ImagingCore
import Segmentation

/// The scores of one configuration of the partial-label experiment (`runs/<id>/result.json`).
public struct BenchResult: Codable, Sendable, Equatable {
    public var id: String
    public var kind: BenchConfiguration.Kind
    public var loss: String
    /// Optimiser steps over all of the configuration's classifiers, and slices seen.
    public var steps: Int
    public var slices: Int
    /// Training seconds (validation included), summed over the classifiers.
    public var seconds: Double
    /// `PartialLabelBench.resultKey`: a stored result is reused only when it matches.
    public var key: String
    /// Presence-aware Dice per class, volume errors, per-case scores (`Validator.summarize`).
    public var validation: ValidationResult
}

/// `results.json` and `results.md` of the experiment.
public enum BenchReport {
    /// The JSON document.
    public struct Document: Codable, Sendable {
        public var format = "segvol-partial-label-bench"
        public var version = 1
        public var options: PartialLabelBench.Options
        public var results: [BenchResult]
    }

    /// Number format of the table's Dice cells (the test reads them back).
    public static func cell(_ value: Double?, digits: Int = 3) -> String {
        guard let value else { return "–" }
        return String(format: "%.\(digits)f", value)
    }

    /// Rows: the union plan's classes scored by any configuration (plan order), then the mean
    /// Dice (mean over the scored classes, the model-selection score), and the median absolute
    /// volume error in %. Columns: configurations in run order.
    public static func markdown(results: [BenchResult], options: PartialLabelBench.Options, plan: ModelPlan) -> String {
        let classes = plan.outputs.dropFirst().map(\.name).filter { n in results.contains { $0.validation.classDice[n] != nil } }
        var lines: [String] = []
        lines.append("# Partial-label experiment (segvol bench partial-labels)")
        lines.append("")
        lines.append("Presence-aware validation Dice on the native grid of the held-out, fully annotated phantom subjects; "
            + "\(options.steps) steps × \(options.batch) slices per configuration, width \(options.width), depth \(options.depth), "
            + "\(options.size)² input, lr \(options.learningRate), seed \(options.seed). docs/partial-labels.md explains the columns.")
        lines.append("")
        lines.append("| class | " + results.map(\.id).joined(separator: " | ") + " |")
        lines.append("|---|" + results.map { _ in "---:" }.joined(separator: "|") + "|")
        for name in classes {
            lines.append("| \(name) | " + results.map { cell($0.validation.classDice[name]) }.joined(separator: " | ") + " |")
        }
        lines.append("| **mean Dice** | " + results.map { "**" + cell($0.validation.meanDice) + "**" }.joined(separator: " | ") + " |")
        lines.append("| median \\|volume error\\| % | "
            + results.map { cell($0.validation.medianAbsVolumeErrorPercent, digits: 1) }.joined(separator: " | ") + " |")
        lines.append("| minutes | " + results.map { cell($0.seconds / 60, digits: 1) }.joined(separator: " | ") + " |")
        lines.append("")
        lines.append("| configuration | classifiers | loss | steps | slices |")
        lines.append("|---|---|---|---:|---:|")
        for r in results {
            let kind: String
            switch r.kind {
            case .untrained: kind = "union network, not trained"
            case .generic: kind = "generic: one union network, every dataset"
            case .specific: kind = "specific: one per region, fully labelled datasets only"
            case .thigh: kind = "one thigh network, thigh datasets"
            }
            lines.append("| \(r.id) | \(kind) | `\(r.loss.isEmpty ? "–" : r.loss)` | \(r.steps) | \(r.slices) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes `results.json` and `results.md` into `folder` durably.
    public static func write(results: [BenchResult], options: PartialLabelBench.Options, plan: ModelPlan, to folder: String) throws(ImagingError) {
        try writeDurably(prettyJSON(Document(options: options, results: results)), to: folder + "/results.json")
        try writeDurably(Array(markdown(results: results, options: options, plan: plan).utf8), to: folder + "/results.md")
    }
}
