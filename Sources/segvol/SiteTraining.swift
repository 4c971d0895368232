#if canImport(Glibc)
import Glibc
#endif
import Anatomy
import Annotations
import ArgumentParser
import Configuration
import Foundation
import ImagingCore
import Logging
import ModelRegistry
import Segmentation
import Training

extension TrainCommand {
    /// Site mode (`segvol train --config segvol.toml`, docs/training.md "Site mode"): intake of
    /// new annotations, then a fine-tuning run of the current model when the store holds cases
    /// it has not seen, else one "nothing to do" line.
    func trainSite() throws {
        let loaded = try loadSiteConfig(config ?? defaultConfigPath)
        let logger = LoggingSetup.logger(label: "segvol.train", target: loaded.log.target, level: loaded.log.level)
        let paths = SitePaths(loaded)
        // One site run at a time (the timer and a run by hand): the second says so and leaves.
        guard let lock = RetrainLock(directory: paths.state + "/retrain") else {
            logger.notice("nothing to do: another `segvol train` is running for this site")
            return
        }
        defer { lock.release() }
        _ = try AnnotationsCommand.ingest(loaded, logger: logger)
        let catalog = try LabelCatalog.load()
        let current = try Self.currentModel(loaded)
        var settings = Self.settings(loaded.retrain)
        if let steps { settings.steps = steps }
        if let maxMinutes { settings.maxMinutes = maxMinutes }
        let setting = loaded.retrain.phantomData
        var run = RetrainRun(store: DatasetStore(root: paths.dataset),
                             phantomData: PhantomTrainingSet.folder(setting: setting, stateDirectory: paths.state),
                             currentModel: current, runsDirectory: paths.state + "/retrain", settings: settings, catalog: catalog)
        // "builtin": the default model's phantom set, generated once into state/phantom-data/
        // by the first run that has work to do.
        run.preparePhantomData = { () throws(ImagingError) in
            _ = try PhantomTrainingSet.resolve(setting: setting, stateDirectory: paths.state, catalog: catalog,
                                               log: { line in logger.notice("\(line)") })
        }
        run.threadCount = threads
        run.log = { line in logger.notice("\(line)") }
        run.crashPoint = ProcessInfo.processInfo.environment[ModelRegistry.crashEnvironmentKey]
        // The registry's gate decides on the candidate (docs/retraining.md).
        let registry = ModelRegistry(directory: SitePaths.models(loaded))
        let tolerances = GateTolerances(loaded.retrain)
        run.decide = { (result: RetrainResult) throws(ImagingError) -> String in
            let d = try RetrainDecision.apply(candidateFolder: result.candidate, currentResult: result.current,
                                              candidateResult: result.candidateResult, registry: registry, tolerances: tolerances,
                                              logger: logger, baseModel: result.parentPath, catalog: catalog)
            return "\(d.accepted ? "promoted" : "rejected") as version \(d.candidateVersion ?? "?")"
                + (d.reasons.isEmpty ? "" : ": " + d.reasons.joined(separator: "; "))
        }
        installStopHandlers()
        let progress = ProgressPrinter()
        switch try run.run(shouldStop: { stopWasRequested }, onEvent: progress.show) {
        case .nothingToDo(let why):
            logger.notice("nothing to do: \(why)")
        case .interrupted(let folder, let step):
            logger.notice("retraining interrupted at step \(step); the next `segvol train` resumes \(folder)")
            throw ExitCode(Self.interruptedStatus)
        case .finished(let result):
            let origin = result.validationGuardCases.map { " (\(result.validationSiteCases ?? 0) from the site, \($0) from the phantom guard set)" } ?? ""
            print("candidate \(result.decision ?? "not decided"); \(result.validationCases) validation case(s)\(origin); comparison in \(result.runFolder)/report.md")
        }
    }

    /// The model site retraining starts from: the one the daemon uses (`model.dir`, else the
    /// registry's `current`, else the installed default; SegmentationStage.locateModel).
    static func currentModel(_ c: SegvolConfig) throws(ImagingError) -> String {
        try SegmentationStage.locateModel(directory: c.model.dir, registry: SitePaths.models(c))
    }

    /// `[retrain]` as the Training module's settings.
    static func settings(_ r: SegvolConfig.Retrain) -> RetrainSettings {
        var s = RetrainSettings()
        s.steps = r.steps
        s.maxMinutes = r.maxMinutes
        s.newCaseWeight = r.newCaseWeight
        s.loss = r.loss
        s.validationFraction = r.validationFraction
        s.learningRate = Float(r.learningRate)
        s.batch = r.batch
        s.validateEvery = r.validateEvery
        s.checkpointEvery = min(25, r.validateEvery)
        return s
    }
}

/// An exclusive `flock` on `state/retrain/train.lock`, held for the run (released by the kernel
/// when the process dies, so a killed run never blocks the next one).
final class RetrainLock {
    private var fd: Int32

    /// nil when another process holds the lock. A lock file that cannot be opened does not
    /// stop the run (the writes that follow report what is wrong with the folder).
    init?(directory: String) {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        fd = open(directory + "/train.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { return }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return nil
        }
    }

    func release() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
    }

    deinit { release() }
}
