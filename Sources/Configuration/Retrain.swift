import Foundation

extension SegvolConfig {
    /// Site retraining (`segvol train --config …`, docs/training.md "Site mode"). The registry's
    /// gate tolerances (`gate_*`) belong to this table too.
    public struct Retrain: Codable, Sendable, Equatable {
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
        /// Folder of the phantom training cases (with their split.json) trained and validated
        /// alongside the site's store; their validation subjects are the regression guard.
        /// "" uses only the store.
        public var phantomData = ""
        public init() {}
        enum CodingKeys: String, CodingKey {
            case steps, loss, batch
            case maxMinutes = "max_minutes", newCaseWeight = "new_case_weight"
            case validationFraction = "validation_fraction", learningRate = "learning_rate"
            case validateEvery = "validate_every", phantomData = "phantom_data"
        }
    }
}

extension ConfigLoader {
    /// Range checks of `[retrain]` and `site.annotations`.
    static func validateRetrain(_ c: SegvolConfig, file: String) throws(ConfigError) {
        func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(key: key, message: message, file: file) }
        let r = c.retrain
        guard (1...1_000_000).contains(r.steps) else { throw fail("retrain.steps", "must be between 1 and 1000000") }
        guard r.maxMinutes > 0, r.maxMinutes.isFinite else { throw fail("retrain.max_minutes", "must be positive") }
        guard r.newCaseWeight >= 1, r.newCaseWeight <= 1000 else { throw fail("retrain.new_case_weight", "must be from 1 to 1000") }
        guard !r.loss.trimmingCharacters(in: .whitespaces).isEmpty else { throw fail("retrain.loss", "must name a loss (docs/losses.md)") }
        guard (0..<1).contains(r.validationFraction) else { throw fail("retrain.validation_fraction", "must be from 0 to below 1") }
        guard r.learningRate > 0, r.learningRate < 1 else { throw fail("retrain.learning_rate", "must be in (0, 1)") }
        guard (1...256).contains(r.batch) else { throw fail("retrain.batch", "must be between 1 and 256") }
        guard r.validateEvery >= 1 else { throw fail("retrain.validate_every", "must be at least 1") }
        guard r.phantomData.isEmpty || r.phantomData.hasPrefix("/") else { throw fail("retrain.phantom_data", "must be \"\" or an absolute path") }
        guard !c.site.annotations.isEmpty, !c.site.annotations.split(separator: "/").contains("..") else {
            throw fail("site.annotations", "must be a folder name or an absolute path without '..'")
        }
    }
}
