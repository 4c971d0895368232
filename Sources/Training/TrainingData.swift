import Anatomy
import Foundation
import ImagingCore
import Segmentation

/// The cases of a run, prepared and split.
public struct TrainingData: Sendable {
    public var train: [PreparedCase]
    public var validation: [ValidationCase]
    public var split: DataSplit
    /// SHA-256 over every used case's name and input hash and the split: names exactly the data
    /// a model was trained and validated on (metrics.json).
    public var snapshotHash: String
    /// Cases read from the slice cache.
    public var cacheHits: Int
    /// Cases left out, with the reason (e.g. a region the plan does not cover).
    public var skipped: [String]
    /// Sampling weight per `train` case (nil: uniform); part of the run key.
    public var trainWeights: [Double]? = nil

    /// Dataset name → (train, validation) case counts.
    public var datasetCounts: [String: [Int]] {
        var out: [String: [Int]] = [:]
        for c in train { out[c.dataset, default: [0, 0]][0] += 1 }
        for c in validation { out[c.prepared.dataset, default: [0, 0]][1] += 1 }
        return out
    }

    /// Prepares `cases` for `plan` (through the cache when `cacheDirectory` is given), applies
    /// the frozen split at `splitPath` (created or extended as `DataSplit` says) and reads the
    /// validation cases' native label maps and truth.
    public static func load(cases: [TrainingCase], plan: ModelPlan, catalog: LabelCatalog, splitPath: String,
                            cacheDirectory: String?, validationFraction: Double) throws(ImagingError) -> TrainingData {
        var skipped: [String] = []
        let usable = cases.filter { c in
            guard plan.regions[c.labels.region.rawValue] != nil else {
                skipped.append("\(c.name): region \(c.labels.region.rawValue) is not in the plan")
                return false
            }
            return true
        }
        guard !usable.isEmpty else {
            throw ImagingError(.trainingDataInvalid, input: "training data",
                               reason: "no case is of a region the plan covers (\(plan.regions.keys.sorted().joined(separator: ", ")))",
                               remedy: "add the cases' regions to plan.json or train on matching cases")
        }
        let split = try DataSplit.loadOrCreate(path: splitPath, cases: usable.map { ($0.labels.subject, $0.labels.dataset) },
                                               validationFraction: validationFraction)
        var train: [PreparedCase] = []
        var validation: [ValidationCase] = []
        var hits = 0
        var snapshot = SHA256()
        for c in usable {
            let hash = try c.contentHash()
            snapshot.update(Array("\(c.name):\(hash)\n".utf8))
            let validating = split.side(of: c.labels.subject) == .validation
            // Whole profile slices, as inference sees them: validation scores them whole, training
            // batches crops of the plan's size at random places (BatchSampler), so no part of a
            // slice wider than the input (a bilateral scan) is left out.
            let (prepared, hit) = try CaseLoader.prepare(c, contentHash: hash, plan: plan, catalog: catalog, cacheDirectory: cacheDirectory,
                                                         window: .covering(maxPixels: WindowPolicy.defaultMaxPixels))
            if hit { hits += 1 }
            if validating {
                let native = try CaseLoader.readNativeTargets(c, plan: plan, catalog: catalog, imageGrid: prepared.transform.sourceGrid)
                validation.append(ValidationCase(prepared: prepared, nativeTargets: native, truth: c.truthPath.flatMap(CaseTruth.read)))
            } else {
                train.append(prepared)
            }
        }
        guard !train.isEmpty else {
            throw ImagingError(.trainingDataInvalid, input: splitPath, reason: "every usable case is on the validation side of the split",
                               remedy: "add training subjects")
        }
        snapshot.update(prettyJSON(split))
        return TrainingData(train: train, validation: validation, split: split, snapshotHash: snapshot.finalizeHex(),
                            cacheHits: hits, skipped: skipped)
    }
}
