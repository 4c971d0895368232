extension SegvolConfig {
    /// Retraining: where the model registry lives and the promotion gate's tolerances
    /// (docs/retraining.md). The training run's own keys join this section.
    public struct Retrain: Codable, Sendable, Equatable {
        /// The model registry (`<version>/`, `current`, `history.json`); relative to `site.root`.
        public var modelsDir = "models"
        /// Largest allowed drop of the mean presence-aware validation Dice (Dice units).
        public var gateMeanDiceTolerance = 0.005
        /// Largest allowed drop of any class's validation Dice, over classes both models score.
        public var gateClassDiceTolerance = 0.02
        /// Largest allowed growth of the median absolute volume error, in percentage points.
        public var gateVolumeErrorTolerance = 2.0
        // The site training run (`segvol train --config …`, docs/training.md "Site mode").
        /// Total optimiser steps of one retraining run (fine-tuning from the current model).
        public var steps = 300
        /// Wall-time bound of one `segvol train` invocation, minutes; the run stops at its best
        /// checkpoint (a killed run resumes in the next invocation).
        public var maxMinutes = 60.0
        /// Sampling weight of the cases added since the current model, relative to older cases (1: no boost).
        public var newCaseWeight = 4.0
        /// The partial-label loss (docs/losses.md).
        public var loss = "xent_plus + dice_log"
        /// Probability that a new subject goes to validation (by SHA-256 of its id; frozen once assigned).
        public var validationFraction = 0.2
        /// Adam's rate for fine-tuning (fresh optimiser state).
        public var learningRate = 1e-4
        /// Slices per batch.
        public var batch = 8
        /// Validate every N steps (and at the end); the best validation's weights are the candidate.
        public var validateEvery = 50
        /// The phantom training cases (with their split.json) trained and validated alongside
        /// the site's store; their validation subjects are the regression guard. "builtin": the
        /// default model's phantom set, generated once into `state/phantom-data/`; a path: that
        /// folder; "": the store alone.
        public var phantomData = "builtin"
        public init() {}
        enum CodingKeys: String, CodingKey {
            case modelsDir = "models_dir"
            case gateMeanDiceTolerance = "gate_mean_dice_tolerance", gateClassDiceTolerance = "gate_class_dice_tolerance"
            case gateVolumeErrorTolerance = "gate_volume_error_tolerance"
            case steps, loss, batch
            case maxMinutes = "max_minutes", newCaseWeight = "new_case_weight"
            case validationFraction = "validation_fraction", learningRate = "learning_rate"
            case validateEvery = "validate_every", phantomData = "phantom_data"
        }
    }
}

extension ConfigLoader {
    /// Checks of the `[retrain]` keys the registry and the gate use, each naming its key.
    static func validateRetrain(_ c: SegvolConfig, file: String) throws(ConfigError) {
        func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(key: key, message: message, file: file) }
        let r = c.retrain
        guard !r.modelsDir.isEmpty, !r.modelsDir.split(separator: "/").contains("..") else {
            throw fail("retrain.models_dir", "must be a folder name or an absolute path without '..'")
        }
        let models = SitePaths.resolve(r.modelsDir, root: c.site.root)
        let paths = SitePaths(c)
        guard models != c.site.root, models + "/" != c.site.root else { throw fail("retrain.models_dir", "must be a folder inside or beside site.root, not site.root itself") }
        for (key, path) in [("site.inbox", paths.inbox), ("site.work", paths.work), ("site.outbox", paths.outbox), ("site.failed", paths.failed),
                            ("site.archive", paths.archive), ("site.reports", paths.reports), ("site.state", paths.state)] where path == models {
            throw fail("retrain.models_dir", "is the same folder as \(key)")
        }
        guard r.gateMeanDiceTolerance.isFinite, (0...1).contains(r.gateMeanDiceTolerance) else {
            throw fail("retrain.gate_mean_dice_tolerance", "must be a Dice difference from 0 to 1 (default 0.005)")
        }
        guard r.gateClassDiceTolerance.isFinite, (0...1).contains(r.gateClassDiceTolerance) else {
            throw fail("retrain.gate_class_dice_tolerance", "must be a Dice difference from 0 to 1 (default 0.02)")
        }
        guard r.gateVolumeErrorTolerance.isFinite, (0...100).contains(r.gateVolumeErrorTolerance) else {
            throw fail("retrain.gate_volume_error_tolerance", "must be percentage points from 0 to 100 (default 2)")
        }
        try validateRetrainRun(c, file: file)
    }
}

extension SitePaths {
    /// The model registry folder (`retrain.models_dir` resolved against `site.root`).
    public static func models(_ c: SegvolConfig) -> String { resolve(c.retrain.modelsDir, root: c.site.root) }
}
