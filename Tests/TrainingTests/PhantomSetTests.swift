import Anatomy
import Foundation
import ImagingCore
import NIfTIIO
import Phantoms
import Testing
@testable import Training

/// The builtin phantom data of site retraining: the default set's list, generation once,
/// completion after a crash, and its frozen split.
@Suite struct PhantomSetTests {
    /// A reduced set through the same code path: 2 datasets × 3 subjects, 48×48×2, few rays.
    static let reduced = DefaultTrainingSet.members(subjectsPerDataset: 3, datasets: ["thigh-full", "thigh-adductors-imaf"],
                                                    matrix: [48, 48], slices: 2, rays: 64)

    @Test func defaultSetIsTheDefaultModelsList() {
        let m = DefaultTrainingSet.members()
        #expect(m.count == 54)
        #expect(m.first?.relativeFolder == "thigh-full/phantom-thigh-101-v1")
        #expect(m.last?.relativeFolder == "abdomen-pancreas/phantom-abdomen-336-v1")
        let seeds = Dictionary(grouping: m, by: \.dataset.name).mapValues { $0.map(\.request.seed) }
        #expect(seeds["calf-tissue"] == Array(221...226) && seeds["abdomen-spleen"] == Array(321...326))
        #expect(m.allSatisfy { $0.request.matrix == [192, 192] && $0.request.slices == 16 && $0.request.visit == 1 && $0.request.rays == 2048 })
        #expect(Set(m.map(\.request.subject)).count == 54)
    }

    static func hashes(_ dir: String) -> [String: String] {
        var out: [String: String] = [:]
        let e = FileManager.default.enumerator(atPath: dir)!
        while let rel = e.nextObject() as? String {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir + "/" + rel, isDirectory: &isDir), !isDir.boolValue,
               let data = FileManager.default.contents(atPath: dir + "/" + rel) {
                out[rel] = SHA256.hex([UInt8](data))
            }
        }
        return out
    }

    @Test func builtinSetIsGeneratedOnceAndCompletedAfterACrash() throws {
        let state = Fixtures.temporaryDirectory("phantom-set")
        defer { Fixtures.remove(state) }
        var lines: [String] = []
        let dir = try #require(try PhantomTrainingSet.resolve(setting: "builtin", stateDirectory: state, catalog: Fixtures.catalog,
                                                              members: Self.reduced, log: { lines.append($0) }))
        #expect(dir == state + "/phantom-data" && lines.contains { $0.contains("generating the builtin phantom data") })
        let split = try #require(try DataSplit.read(path: dir + "/split.json"))
        // DataSplit's first split at 0.2: one validation subject of three per dataset.
        #expect(split.validationFraction == 0.2 && split.subjects.count == 6)
        for dataset in ["thigh-full", "thigh-adductors-imaf"] {
            let subjects = Self.reduced.filter { $0.dataset.name == dataset }.map(\.request.subject)
            #expect(subjects.filter { split.side(of: $0) == .validation }.count == 1, "\(dataset)")
        }
        let cases = try TrainingCase.discover(in: dir, catalog: Fixtures.catalog)
        #expect(Set(cases.map(\.name)) == Set(Self.reduced.map { ($0.relativeFolder as NSString).lastPathComponent }))
        #expect(cases.count == 6)
        let before = Self.hashes(dir)
        #expect(before.keys.contains(PhantomTrainingSet.completeMarker))

        // Complete: nothing generated again.
        #expect(try PhantomTrainingSet.ensure(directory: dir, catalog: Fixtures.catalog, members: Self.reduced) == 0)

        // A crash half-way: no marker, one case missing, another left as a partial folder.
        let fm = FileManager.default
        try fm.removeItem(atPath: dir + "/" + PhantomTrainingSet.completeMarker)
        try fm.removeItem(atPath: dir + "/" + Self.reduced[1].relativeFolder)
        let partial = dir + "/thigh-adductors-imaf/.partial-" + (Self.reduced[4].relativeFolder as NSString).lastPathComponent
        try fm.moveItem(atPath: dir + "/" + Self.reduced[4].relativeFolder, toPath: partial)
        try fm.removeItem(atPath: partial + "/truth.json")
        #expect(try PhantomTrainingSet.ensure(directory: dir, catalog: Fixtures.catalog, members: Self.reduced) == 2)
        #expect(!fm.fileExists(atPath: partial))
        // Same seeds, same bytes: the completed set is the set first generated, split included.
        #expect(Self.hashes(dir) == before)

        // Another set in the folder is refused, not mixed.
        #expect(throws: ImagingError.self) {
            try PhantomTrainingSet.ensure(directory: dir, catalog: Fixtures.catalog, members: Array(Self.reduced.prefix(2)))
        }
        #expect(try PhantomTrainingSet.resolve(setting: "", stateDirectory: state, catalog: Fixtures.catalog) == nil)
        #expect(try PhantomTrainingSet.resolve(setting: "/srv/phantoms", stateDirectory: state, catalog: Fixtures.catalog) == "/srv/phantoms")
    }
}

/// A site with two annotated cases and the builtin phantom data: the guard set gives the
/// validation cases, the gate decides once, and a run killed after the decision reports it.
@Suite struct GuardSetRetrainTests {
    @Test func guardSetValidatesAndTheDecisionIsRecordedOnce() throws {
        let site = try RetrainTests.Site()
        let phantoms = try #require(try PhantomTrainingSet.resolve(setting: "builtin", stateDirectory: site.root + "/state", catalog: Fixtures.catalog,
                                                                   members: PhantomSetTests.reduced))
        try site.addBoneCase(Fixtures.phantoms[1], subject: "site-a")
        try site.addBoneCase(Fixtures.phantoms[2], subject: "site-b")
        var settings = RetrainSettings()
        settings.steps = 4
        settings.batch = 2
        settings.validateEvery = 2
        settings.augment = false
        var run = RetrainRun(store: site.store, phantomData: phantoms, currentModel: site.model, runsDirectory: site.root + "/state/retrain",
                             settings: settings, catalog: Fixtures.catalog)
        nonisolated(unsafe) var asked = 0
        run.decide = { r in
            asked += 1
            return "rejected as version v2 (\(r.validationGuardCases ?? -1) guard)"
        }
        guard case .finished(let result) = try run.run() else { Issue.record("no candidate"); return }
        // Site subjects validate only when their hash says so (fraction 0.2); the guard set always does.
        let siteValidation = ["site-a", "site-b"].filter { DataSplit.position($0) < 0.2 }.count
        #expect(result.validationGuardCases == 2 && result.validationSiteCases == siteValidation)
        #expect(result.validationCases == 2 + siteValidation && asked == 1 && result.decision == "rejected as version v2 (2 guard)")
        let report = try String(contentsOfFile: result.runFolder + "/report.md", encoding: .utf8)
        #expect(report.contains("\(siteValidation) from the site, 2 from the phantom guard set"), "\(report)")
        // The guard subjects are the builtin set's frozen validation subjects, copied into the site split.
        let shipped = try #require(try DataSplit.read(path: phantoms + "/split.json"))
        let siteSplit = try #require(try DataSplit.read(path: run.splitPath))
        for (subject, side) in shipped.subjects { #expect(siteSplit.side(of: subject) == side) }

        // Killed after the decision, before report.md and result.json: the next run reports the
        // recorded decision and does not ask the gate (no second registration).
        #expect(FileManager.default.fileExists(atPath: result.runFolder + "/" + RetrainRun.decisionFile))
        for f in ["result.json", "report.md"] { try FileManager.default.removeItem(atPath: result.runFolder + "/" + f) }
        guard case .finished(let again) = try run.run() else { Issue.record("not completed"); return }
        #expect(asked == 1 && again.decision == result.decision && again.candidate == result.candidate)
        #expect(FileManager.default.fileExists(atPath: result.runFolder + "/result.json"))
        guard case .nothingToDo(let why) = try run.run() else { Issue.record("decided twice"); return }
        #expect(why.contains("already retrained") && asked == 1)
    }
}

extension GuardSetRetrainTests {
    /// A diverged candidate (NaN scores) still leaves a readable decision record.
    @Test func decisionRecordKeepsNaNScores() throws {
        let dir = Fixtures.temporaryDirectory("decided")
        defer { Fixtures.remove(dir) }
        let nan = ValidationResult(classDice: ["bone": .nan], meanDice: .nan, classVolumeErrorPercent: [:], medianAbsVolumeErrorPercent: nil, cases: [])
        let ok = ValidationResult(classDice: ["bone": 0.5], meanDice: 0.5, classVolumeErrorPercent: [:], medianAbsVolumeErrorPercent: 12, cases: [])
        let result = RetrainResult(parentModel: "v1", parentPath: "/m/v1", candidate: dir + "/candidate", runFolder: dir, status: .completed,
                                   steps: 3, seconds: 1, loss: "xent", storeSnapshot: "s", storeCases: 1, newCases: ["h"], dataSnapshotHash: "d",
                                   validationCases: 2, validationSubjects: 2, current: ok, candidateResult: nan, meanDiceChange: .nan,
                                   finishedAt: "t", decision: "rejected as version v2")
        try DurableFile.write(RetrainRun.decisionJSON(result), to: dir + "/" + RetrainRun.decisionFile)
        let back = try #require(RetrainRun.recordedDecision(runFolder: dir))
        #expect(back.decision == "rejected as version v2" && back.candidateResult.meanDice.isNaN && back.current.meanDice == 0.5)
    }
}
