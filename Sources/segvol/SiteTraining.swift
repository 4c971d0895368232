import Anatomy
import Annotations
import ArgumentParser
import Configuration
import Foundation
import ImagingCore
import Logging
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
        _ = try AnnotationsCommand.ingest(loaded, logger: logger)
        let catalog = try LabelCatalog.load()
        let current = try Self.currentModel(loaded)
        var settings = Self.settings(loaded.retrain)
        if let steps { settings.steps = steps }
        if let maxMinutes { settings.maxMinutes = maxMinutes }
        var run = RetrainRun(store: DatasetStore(root: paths.dataset),
                             phantomData: loaded.retrain.phantomData.isEmpty ? nil : loaded.retrain.phantomData,
                             currentModel: current, runsDirectory: paths.state + "/retrain", settings: settings, catalog: catalog)
        run.threadCount = threads
        run.log = { line in logger.notice("\(line)") }
        installStopHandlers()
        let progress = ProgressPrinter()
        switch try run.run(shouldStop: { stopWasRequested }, onEvent: progress.show) {
        case .nothingToDo(let why):
            logger.notice("nothing to do: \(why)")
        case .interrupted(let folder, let step):
            logger.notice("retraining interrupted at step \(step); the next `segvol train` resumes \(folder)")
            throw ExitCode(Self.interruptedStatus)
        case .finished(let result):
            print("candidate model in \(result.candidate); comparison in \(result.runFolder)/report.md")
        }
    }

    /// The model site retraining starts from: `model.dir` when set, else `<root>/models/current`
    /// when it holds a plan, else the daemon's search (SegmentationStage.locateModel).
    static func currentModel(_ c: SegvolConfig) throws(ImagingError) -> String {
        if !c.model.dir.isEmpty { return c.model.dir }
        let siteCurrent = SitePaths.resolve("models/current", root: c.site.root)
        if FileManager.default.fileExists(atPath: siteCurrent + "/" + ModelFolder.planFile) { return siteCurrent }
        return try SegmentationStage.locateModel(directory: "")
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
