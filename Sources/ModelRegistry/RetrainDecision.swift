import Anatomy
import Foundation
import ImagingCore
import Logging
import Segmentation
import Training

/// The end of a retraining run: gate, register, promote or not, log.
public enum RetrainDecision {
    /// Decides on `candidateFolder` (a model folder written by the training run) from both
    /// models' scores on the same frozen validation set, registers it as a new immutable version
    /// (with the decision in `decision.json` and its provenance), and promotes it when the gate
    /// accepts; a rejected candidate stays registered as `rejected` and `current` is unchanged.
    ///
    /// `currentResult` must score the registry's current version (`registry.currentFolder()`,
    /// or the shipped default while the registry is empty) on the same cases as the candidate.
    ///
    /// An empty registry first imports `baseModel` (default: the installed or source-tree
    /// default model) as version `default`, so the candidate's parent and a rollback target
    /// exist. Logs `model promoted` (event `model.promoted`, notice) or `model rejected`
    /// (event `model.rejected`, warning) with every number; the returned decision names the
    /// candidate's version.
    @discardableResult
    public static func apply(candidateFolder: String, currentResult: ValidationResult, candidateResult: ValidationResult,
                             registry: ModelRegistry, tolerances: GateTolerances, logger: Logger,
                             baseModel: String? = nil, catalog: LabelCatalog? = nil) throws(ImagingError) -> GateDecision {
        for line in try registry.recover() { logger.notice("model registry repaired", metadata: ["repair": "\(line)"]) }
        if registry.currentVersion() == nil {
            let base: String
            if let baseModel { base = baseModel } else {
                base = try ModelDirectory.locate(environment: [:], systemDirectories: ["/usr/local/share/segvol/models/default", ModelDirectory.installedDirectory])
            }
            if let id = try registry.ensureBase(from: base, catalog: catalog) {
                logger.notice("base model registered", metadata: ["model": "\(id)", "path": "\(base)"])
            }
        }
        let parent = registry.currentVersion()
        var decision = ModelGate(tolerances).decide(current: currentResult, candidate: candidateResult)
        decision.currentVersion = parent
        let version = try registry.register(candidate: candidateFolder, parent: parent, gate: decision.accepted ? .accepted : .rejected,
                                            decision: decision, catalog: catalog)
        decision.candidateVersion = version
        var metadata: Logger.Metadata = [
            "model": "\(version)", "previous_model": "\(parent ?? "none")",
            "mean_dice_current": "\(String(format: "%.4f", currentResult.meanDice))",
            "mean_dice_candidate": "\(String(format: "%.4f", candidateResult.meanDice))",
            "reasons": "\(decision.reasons.joined(separator: "; "))",
        ]
        if let a = decision.currentMedianVolumeErrorPercent, let b = decision.candidateMedianVolumeErrorPercent {
            metadata["volume_error_current"] = "\(String(format: "%.2f", a))"
            metadata["volume_error_candidate"] = "\(String(format: "%.2f", b))"
        }
        if decision.accepted {
            try registry.promote(version)
            metadata["event"] = "model.promoted"
            logger.notice("model promoted", metadata: metadata)
        } else {
            metadata["event"] = "model.rejected"
            logger.warning("model rejected", metadata: metadata)
        }
        return decision
    }
}
