#if canImport(Glibc)
import Glibc
#endif
import Anatomy
import Annotations
import Foundation
import ImagingCore
import NIfTIIO
import Segmentation

/// A site retraining run (docs/training.md "Site mode"): fine-tunes the current model on the
/// dataset store plus the phantom training data when the store holds cases the current model
/// has not seen, then scores the current model and the candidate on one frozen validation set.
///
/// Run folder: `runs/<parent version>-<store snapshot, 12 hex>/` with `candidate/` (the Trainer's
/// model folder, resumable from `candidate/training/`), and, once finished, `result.json` and
/// `report.md`. A second invocation on the same parent and store resumes an unfinished run and
/// says "nothing to do" for a finished one.
public struct RetrainRun {
    public var store: DatasetStore
    /// Folder of phantom case folders (with their frozen split.json), or nil.
    public var phantomData: String?
    /// The current model's folder (plan.json, weights.safetensors, metrics.json).
    public var currentModel: String
    public var runsDirectory: String
    public var settings: RetrainSettings
    public var catalog: LabelCatalog
    /// Engine threads (nil: all cores).
    public var threadCount: Int?
    /// One line per notable step (the command sends them to the journal).
    public var log: (String) -> Void = { _ in }
    /// The registry's gate: decides on the finished candidate (promote or reject) and returns
    /// the decision in one line. Called by `finish` before `result.json` is written, so a run
    /// killed before the decision is decided again by the next invocation.
    public var decide: ((RetrainResult) throws(ImagingError) -> String)?
    /// Test hook (`SEGVOL_TEST_CRASH_AT`, as the registry's): `retrain-decided` kills the
    /// process with SIGKILL right after the decision is recorded, before `result.json`.
    public var crashPoint: String?
    /// Called once a run has work to do, before the phantom data is read (the command
    /// generates the builtin set here, so a night with nothing to do generates nothing).
    public var preparePhantomData: (() throws(ImagingError) -> Void)?

    public init(store: DatasetStore, phantomData: String?, currentModel: String, runsDirectory: String,
                settings: RetrainSettings, catalog: LabelCatalog) {
        self.store = store
        self.phantomData = phantomData
        self.currentModel = currentModel
        self.runsDirectory = runsDirectory
        self.settings = settings
        self.catalog = catalog
    }

    public enum Outcome {
        /// No store case is new to the current model (or this data was already tried).
        case nothingToDo(String)
        /// Stopped on request; the next invocation resumes.
        case interrupted(runFolder: String, step: Int)
        case finished(RetrainResult)
    }

    /// The frozen split of site mode: `store/split.json`.
    public var splitPath: String { store.root + "/split.json" }

    /// Store case hashes the model at `path` was trained with (its metrics.json), [] for none.
    public static func trainedStoreCases(model path: String) -> [String] {
        struct Metrics: Decodable { var storeCases: [String]? }
        return FileManager.default.contents(atPath: path + "/metrics.json")
            .flatMap { try? JSONDecoder().decode(Metrics.self, from: $0) }?.storeCases ?? []
    }

    public func run(shouldStop: () -> Bool = { false }, onEvent: (TrainingEvent) -> Void = { _ in }) throws(ImagingError) -> Outcome {
        let parent = try Segmentation.ModelFolder.open(currentModel, catalog: catalog)
        let index = try store.index()
        let seen = Set(Self.trainedStoreCases(model: currentModel))
        let newCases = index.cases.map(\.hash).filter { !seen.contains($0) }
        guard !newCases.isEmpty else {
            return .nothingToDo("no annotated case was added to the dataset store since model \(parent.version) (\(index.cases.count) stored)")
        }
        let safeVersion = String(parent.version.map { $0.isLetter || $0.isNumber || "._-".contains($0) ? $0 : "_" })
        let runFolder = runsDirectory + "/\(safeVersion)-\(index.snapshot.prefix(12))"
        if FileManager.default.fileExists(atPath: runFolder + "/result.json") {
            return .nothingToDo("model \(parent.version) was already retrained on this store (\(runFolder)/report.md); waiting for new annotations")
        }
        if let decided = Self.recordedDecision(runFolder: runFolder) {
            // Killed after the gate decided, before result.json: report that decision, never decide again.
            log("run \(runFolder) was decided before it was stopped (\(decided.decision ?? "no decision")); completing its report")
            try writeReport(decided)
            return .finished(decided)
        }
        let candidate = runFolder + "/candidate"
        do { try FileManager.default.createDirectory(atPath: candidate, withIntermediateDirectories: true) } catch {
            throw ImagingError(.writeFailed, input: candidate, reason: "cannot create the run folder", remedy: "check the state folder's permissions")
        }
        log("retraining model \(parent.version): \(newCases.count) new of \(index.cases.count) stored case(s); run \(runFolder)")

        var cases: [TrainingCase] = []
        try preparePhantomData?()
        if let phantomData { cases += try TrainingCase.discover(in: phantomData, catalog: catalog) }
        let guardNames = Set(cases.map(\.name))
        let storeCases = try TrainingCase.discover(in: store.casesDirectory, catalog: catalog)
        try prepareSplit(phantom: cases, store: storeCases)
        cases += storeCases
        let options = settings.trainingOptions
        let trainer = try Self.makeTrainer(plan: parent.plan, loss: settings.loss, options: options)
        trainer.threadCount = threadCount
        trainer.initialWeights = parent.weightsPath
        trainer.lineage = ModelLineage(parentModel: parent.version, storeCases: index.cases.map(\.hash), storeSnapshot: index.snapshot)
        var data = try TrainingData.load(cases: cases, plan: trainer.plan, catalog: catalog, splitPath: splitPath,
                                         cacheDirectory: runsDirectory + "/.slice-cache", validationFraction: settings.validationFraction)
        let fresh = Set(newCases)
        data.trainWeights = data.train.map { fresh.contains($0.caseName) ? settings.newCaseWeight : 1 }
        let guardValidation = data.validation.filter { guardNames.contains($0.prepared.caseName) }.count
        log(String(format: "data: %d training (%d new, weight %.1f) and %d validation case(s) (%d from the site, %d from the phantom guard set); snapshot %@",
                   data.train.count, data.train.filter { fresh.contains($0.caseName) }.count, settings.newCaseWeight, data.validation.count,
                   data.validation.count - guardValidation, guardValidation, String(data.snapshotHash.prefix(16))))

        let resume = try trainer.savedStateMatches(data: data, output: candidate)
        if resume == false {
            log("the saved state in \(candidate)/training belongs to other settings or data: starting this run over")
            try? FileManager.default.removeItem(atPath: candidate + "/training")
        }
        let report = try trainer.run(data: data, output: candidate, resume: resume == true, shouldStop: shouldStop, onEvent: onEvent)
        if report.status == .interrupted { return .interrupted(runFolder: runFolder, step: report.stepsDone) }

        let currentNet = try parent.loadNetwork(threadCount: threadCount)
        let currentResult = Validator.evaluate(net: currentNet, cases: data.validation, plan: trainer.plan, batch: options.validationBatch)
        let candidateNet = try Segmentation.ModelFolder.open(candidate, catalog: catalog).loadNetwork(threadCount: threadCount)
        let candidateResult = Validator.evaluate(net: candidateNet, cases: data.validation, plan: trainer.plan, batch: options.validationBatch)
        var model = CandidateModel(folder: candidate, runFolder: runFolder, parent: parent, report: report, newCases: newCases,
                                   storeCases: index.cases.count, data: data)
        model.guardValidationCases = guardValidation
        return .finished(try finish(candidate: model, currentResult: currentResult, candidateResult: candidateResult))
    }

    /// The candidate of a finished run and what it was trained on.
    public struct CandidateModel {
        public var folder: String
        public var runFolder: String
        public var parent: Segmentation.ModelFolder
        public var report: TrainingReport
        public var newCases: [String]
        public var storeCases: Int
        public var data: TrainingData
        /// Of `data.validation`: the cases from the phantom data (the rest are the site's).
        public var guardValidationCases = 0
    }

    /// The end of a run, THE place where the candidate is handed to the registry's gate: logs
    /// the comparison, calls `decide` (the gate: promote or reject), then writes `report.md`
    /// and, last, `result.json` (which marks the run done).
    public func finish(candidate: CandidateModel, currentResult: ValidationResult,
                       candidateResult: ValidationResult) throws(ImagingError) -> RetrainResult {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        let r = candidate.report
        var result = RetrainResult(parentModel: candidate.parent.version, parentPath: candidate.parent.path, candidate: candidate.folder,
                                   runFolder: candidate.runFolder, status: r.status, steps: r.stepsDone, seconds: r.seconds, loss: r.loss,
                                   storeSnapshot: r.lineage?.storeSnapshot ?? "", storeCases: candidate.storeCases, newCases: candidate.newCases,
                                   dataSnapshotHash: r.data.snapshotHash, validationCases: candidate.data.validation.count,
                                   validationSubjects: Set(candidate.data.validation.map(\.prepared.subject)).count,
                                   current: currentResult, candidateResult: candidateResult,
                                   meanDiceChange: candidateResult.meanDice - currentResult.meanDice, finishedAt: formatter.string(from: Date()))
        result.validationGuardCases = candidate.guardValidationCases
        result.validationSiteCases = result.validationCases - candidate.guardValidationCases
        log(String(format: "retraining finished (%@, %d steps): mean Dice on %d validation case(s) current %.4f, candidate %.4f (%+.4f); candidate in %@",
                   r.status.rawValue, r.stepsDone, result.validationCases, currentResult.meanDice, candidateResult.meanDice,
                   result.meanDiceChange, candidate.folder))
        if candidate.data.validation.isEmpty {
            // No evidence either way: never promote an unvalidated candidate.
            result.decision = "not promoted: no validation case to compare the models on (add validation subjects, or set retrain.phantom_data = \"builtin\")"
            log(result.decision!)
        } else if let recorded = Self.recordedDecision(runFolder: candidate.runFolder) {
            result.decision = recorded.decision  // decided by an earlier invocation: never twice
        } else if let decide {
            result.decision = try decide(result)
            // Durable before anything else: a run killed from here on reports this decision.
            try writeDurably(Self.decisionJSON(result), to: candidate.runFolder + "/" + Self.decisionFile)
            if crashPoint == "retrain-decided" { kill(getpid(), SIGKILL) }
        }
        try writeReport(result)
        return result
    }

    /// `decided.json`: the result with the gate's decision, written right after the gate
    /// returned (the candidate is then registered), before report.md and result.json.
    public static let decisionFile = "decided.json"

    /// The result recorded in `runFolder/decided.json`, if the gate already decided there.
    public static func recordedDecision(runFolder: String) -> RetrainResult? {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return FileManager.default.contents(atPath: runFolder + "/" + decisionFile).flatMap { try? decoder.decode(RetrainResult.self, from: $0) }
    }

    /// decided.json's bytes: a diverged candidate's NaN scores are written as "nan", so the
    /// record is never lost to an encoding failure.
    static func decisionJSON(_ result: RetrainResult) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return ((try? encoder.encode(result)).map(Array.init) ?? []) + [10]
    }

    /// report.md, then result.json (which marks the run done).
    func writeReport(_ result: RetrainResult) throws(ImagingError) {
        try writeDurably(Array(Self.markdown(result).utf8), to: result.runFolder + "/report.md")
        try writeDurably(prettyJSON(result), to: result.runFolder + "/result.json")
    }

    static func makeTrainer(plan: ModelPlan, loss: String, options: TrainingOptions) throws(ImagingError) -> Trainer {
        do { return try Trainer(plan: plan, loss: loss, options: options) } catch {
            throw ImagingError(.trainingDataInvalid, input: "retrain.loss", reason: "\(error)", remedy: "fix retrain.loss in segvol.toml (docs/losses.md)")
        }
    }

    /// Writes the site split: the phantom data's frozen split.json is copied in (its validation
    /// subjects stay the regression guard), then every new subject is assigned once by the hash
    /// of its id (`DataSplit.assign`) and never moves.
    func prepareSplit(phantom: [TrainingCase], store: [TrainingCase]) throws(ImagingError) {
        var split = try DataSplit.read(path: splitPath) ?? DataSplit(validationFraction: settings.validationFraction)
        var changed = false
        if let phantomData, let shipped = try DataSplit.read(path: phantomData + "/split.json") {
            for (subject, side) in shipped.subjects where split.subjects[subject] == nil {
                split.subjects[subject] = side
                changed = true
            }
        }
        if split.assign(phantom.map { ($0.labels.subject, $0.labels.dataset) }) { changed = true }
        if split.assign(store.map { ($0.labels.subject, $0.labels.dataset) }) { changed = true }
        if changed {
            do { try FileManager.default.createDirectory(atPath: self.store.root, withIntermediateDirectories: true) } catch {
                throw ImagingError(.writeFailed, input: self.store.root, reason: "cannot create the dataset store folder", remedy: "check the state folder's permissions")
            }
            try split.write(path: splitPath)
        }
    }

    /// report.md of a run: the comparison per class.
    static func markdown(_ r: RetrainResult) -> String {
        var s = "# Retraining report\n\n| | |\n|---|---|\n"
        s += "| parent model | \(r.parentModel) |\n| candidate | `\(r.candidate)` |\n| status | \(r.status.rawValue), \(r.steps) steps, \(Int(r.seconds)) s |\n"
        s += "| loss | `\(r.loss)` |\n| store | \(r.storeCases) case(s), \(r.newCases.count) new; snapshot `\(r.storeSnapshot.prefix(16))…` |\n"
        let origin = r.validationGuardCases.map { "; \(r.validationSiteCases ?? 0) from the site, \($0) from the phantom guard set" } ?? ""
        s += "| validation | \(r.validationCases) case(s) of \(r.validationSubjects) subject(s), frozen split\(origin) |\n"
        s += String(format: "| mean Dice | current %.4f, candidate %.4f (%+.4f) |\n", r.current.meanDice, r.candidateResult.meanDice, r.meanDiceChange)
        let vol = { (v: ValidationResult) in v.medianAbsVolumeErrorPercent.map { String(format: "%.1f %%", $0) } ?? "–" }
        s += "| median abs. volume error | current \(vol(r.current)), candidate \(vol(r.candidateResult)) |\n"
        s += "| gate | \(r.decision ?? "not run") |\n\n"
        s += "## Per class\n\n| class | current Dice | candidate Dice | change |\n|---|---|---|---|\n"
        for name in Set(r.current.classDice.keys).union(r.candidateResult.classDice.keys).sorted() {
            let a = r.current.classDice[name], b = r.candidateResult.classDice[name]
            let change = a.flatMap { a in b.map { String(format: "%+.3f", $0 - a) } } ?? "–"
            s += "| \(name) | \(a.map { String(format: "%.3f", $0) } ?? "–") | \(b.map { String(format: "%.3f", $0) } ?? "–") | \(change) |\n"
        }
        return s
    }
}
