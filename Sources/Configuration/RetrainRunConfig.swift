import Foundation

extension ConfigLoader {
    /// Range checks of the training run's `[retrain]` keys and `site.annotations`.
    static func validateRetrainRun(_ c: SegvolConfig, file: String) throws(ConfigError) {
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
        guard r.phantomData.isEmpty || r.phantomData == "builtin" || r.phantomData.hasPrefix("/") else {
            throw fail("retrain.phantom_data", "must be \"builtin\", \"\" or an absolute path")
        }
        guard !c.site.annotations.isEmpty, !c.site.annotations.split(separator: "/").contains("..") else {
            throw fail("site.annotations", "must be a folder name or an absolute path without '..'")
        }
    }
}
