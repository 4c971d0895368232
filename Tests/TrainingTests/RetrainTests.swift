import Anatomy
import Foundation
import ImagingCore
import NIfTIIO
import NeuralEngine
import Phantoms
import Segmentation
import Testing
@testable import Annotations
@testable import Training

/// Site retraining: the frozen split, "nothing to do", a fine-tune that learns the annotated family.
@Suite struct RetrainTests {
    /// A site: a parent model `models/v1` (random weights of the tiny thigh plan), the store, and
    /// phantom data holding one fully labelled validation subject.
    final class Site {
        let root = Fixtures.temporaryDirectory("retrain")
        var store: DatasetStore { DatasetStore(root: root + "/state/dataset") }
        var model: String { root + "/models/v1" }
        var phantoms: String { root + "/phantoms" }
        deinit { Fixtures.remove(root) }

        init() throws {
            let plan = Fixtures.thighPlan()
            try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
            try Data(prettyJSON(plan)).write(to: URL(fileURLWithPath: model + "/plan.json"))
            let a = plan.architecture
            try UNet(config: UNetConfig(inChannels: 1, classes: plan.outputs.count, baseWidth: a.baseWidth, depth: a.depth), seed: 5)
                .saveCheckpoint(to: model + "/weights.safetensors")
            // Phantom validation subject (fully labelled, seed 1), frozen in its split.json.
            let p = Fixtures.phantoms[0]
            let folder = phantoms + "/\(p.request.subject)-v1"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try NIfTIWriter.writeImage(p.image, to: folder + "/image.nii.gz")
            let (labels, sidecar) = PhantomDataset.full(.thigh).apply(to: p.labels, catalog: Fixtures.catalog, subject: p.request.subject, visit: 1)
            try NIfTIWriter.writeLabels(labels, table: nil, to: folder + "/labels.nii.gz")
            try Data(sidecar.jsonBytes()).write(to: URL(fileURLWithPath: folder + "/case.json"))
            try JSONEncoder().encode(p.truth).write(to: URL(fileURLWithPath: folder + "/truth.json"))
            try DataSplit(validationFraction: 0.5, subjects: [p.request.subject: .validation]).write(path: phantoms + "/split.json")
        }

        /// Stores a case of `phantom` with only bone and bone marrow annotated.
        @discardableResult
        func addBoneCase(_ phantom: Phantom, subject: String) throws -> DatasetEntry {
            let ids = ["bone", "bone_marrow"].map { Fixtures.catalog.class(named: $0)!.id }
            let labels = phantom.labels.map { v -> Int32 in ids.firstIndex(of: Int(v)).map { Int32($0 + 1) } ?? 0 }
            let sidecar = CaseLabels(subject: subject, dataset: "site-thigh", region: .thigh,
                                     labels: [1: .single("bone"), 2: .single("bone_marrow")], present: ["bone", "bone_marrow"])
            let c = CheckedAnnotation(image: phantom.image, labels: labels, sidecar: sidecar,
                                      contentHash: AnnotationCheck.contentHash(image: phantom.image, labels: labels), warnings: [], imageSource: "test")
            return try store.add(c, caseName: subject)
        }

        func run(_ settings: RetrainSettings) -> RetrainRun {
            RetrainRun(store: store, phantomData: phantoms, currentModel: model, runsDirectory: root + "/state/retrain",
                       settings: settings, catalog: Fixtures.catalog)
        }
    }

    static func fakeCase(_ subject: String, dataset: String = "site-thigh") -> TrainingCase {
        TrainingCase(folder: "/x/" + subject, imagePath: "", labelsPath: "", sidecarPath: "", truthPath: nil,
                     labels: CaseLabels(subject: subject, dataset: dataset, region: .thigh, labels: [:], present: []))
    }

    @Test func splitIsFrozenWhenNewSubjectsArrive() throws {
        let site = try Site()
        var settings = RetrainSettings()
        settings.validationFraction = 0.3
        let run = site.run(settings)
        let phantomSubject = Fixtures.phantoms[0].request.subject
        let first = (1...20).map { Self.fakeCase("site-\($0)") }
        try run.prepareSplit(phantom: [Self.fakeCase(phantomSubject, dataset: "thigh-full")], store: first)
        let before = try #require(try DataSplit.read(path: run.splitPath))
        #expect(before.side(of: phantomSubject) == .validation)
        for c in first {
            #expect(before.side(of: c.labels.subject) == (DataSplit.position(c.labels.subject) < 0.3 ? .validation : .train))
        }
        let sides = Set(first.map { before.side(of: $0.labels.subject)! })
        #expect(sides == [.train, .validation])
        // A new subject arrives, with another configured fraction: nobody moves.
        var later = settings
        later.validationFraction = 0.9
        try site.run(later).prepareSplit(phantom: [Self.fakeCase(phantomSubject, dataset: "thigh-full")],
                                         store: first + [Self.fakeCase("site-new")])
        let after = try #require(try DataSplit.read(path: run.splitPath))
        #expect(after.subjects.count == before.subjects.count + 1)
        for (s, side) in before.subjects { #expect(after.side(of: s) == side, "\(s) moved") }
        #expect(after.side(of: "site-new") == (DataSplit.position("site-new") < 0.3 ? .validation : .train))
    }

    @Test func nothingToDoWithoutNewCases() throws {
        let site = try Site()
        guard case .nothingToDo(let why) = try site.run(RetrainSettings()).run() else { Issue.record("trained on an empty store"); return }
        #expect(why.contains("no annotated case") && why.contains("v1"))
        let entry = try site.addBoneCase(Fixtures.phantoms[1], subject: "site-a")
        // The parent already saw that case (metrics.json of a model trained on the store).
        try Data(#"{"storeCases":["\#(entry.hash)"]}"#.utf8).write(to: URL(fileURLWithPath: site.model + "/metrics.json"))
        guard case .nothingToDo = try site.run(RetrainSettings()).run() else { Issue.record("retrained on seen cases"); return }
        #expect(!FileManager.default.fileExists(atPath: site.root + "/state/retrain"))
    }

    @Test func fineTuneLearnsTheAnnotatedFamily() throws {
        let site = try Site()
        let a = try site.addBoneCase(Fixtures.phantoms[1], subject: "site-a")
        let b = try site.addBoneCase(Fixtures.phantoms[2], subject: "site-b")
        var settings = RetrainSettings()
        settings.steps = 60
        settings.batch = 4
        settings.validateEvery = 20
        settings.learningRate = 3e-3
        settings.validationFraction = 0  // both site subjects train; validation is the phantom subject
        settings.augment = false
        guard case .finished(let result) = try site.run(settings).run() else { Issue.record("no candidate"); return }
        #expect(result.parentModel == "v1" && Set(result.newCases) == [a.hash, b.hash] && result.validationCases == 1)
        let before = result.current.classDice["bone"] ?? 0, after = try #require(result.candidateResult.classDice["bone"])
        #expect(after > before + 0.2, "bone Dice \(before) → \(after)")   // measured: 0.00 → 0.38
        let marrow = (result.current.classDice["bone_marrow"] ?? 0, result.candidateResult.classDice["bone_marrow"] ?? 0)
        #expect(marrow.1 > marrow.0 + 0.2, "bone marrow Dice \(marrow)")             // measured: 0.00 → 0.37
        // What was learned is the annotated family: no other class rises (none was annotated).
        for (name, dice) in result.candidateResult.classDice where !["bone", "bone_marrow"].contains(name) {
            #expect(dice < 0.15, "\(name) \(dice)")
        }
        let metrics = try JSONDecoder().decode(ModelMetrics.self, from: Data(contentsOf: URL(fileURLWithPath: result.candidate + "/metrics.json")))
        #expect(metrics.parentModel == "v1" && metrics.storeCases == [a.hash, b.hash].sorted() && metrics.storeSnapshot == result.storeSnapshot)
        for f in ["result.json", "report.md"] { #expect(FileManager.default.fileExists(atPath: result.runFolder + "/" + f)) }
        // The same parent and store again: nothing to do.
        guard case .nothingToDo(let why) = try site.run(settings).run() else { Issue.record("ran twice"); return }
        #expect(why.contains("already retrained"))
    }

    /// Without a validation case the gate is not asked: an unvalidated candidate is never promoted.
    @Test func noValidationCaseMeansNoDecision() throws {
        let site = try Site()
        try site.addBoneCase(Fixtures.phantoms[1], subject: "site-a")
        var settings = RetrainSettings()
        settings.steps = 2
        settings.batch = 2
        settings.validationFraction = 0
        var run = RetrainRun(store: site.store, phantomData: nil, currentModel: site.model, runsDirectory: site.root + "/state/retrain",
                             settings: settings, catalog: Fixtures.catalog)
        var asked = false
        run.decide = { _ in asked = true; return "promoted" }
        guard case .finished(let result) = try run.run() else { Issue.record("no candidate"); return }
        #expect(!asked && result.validationCases == 0 && result.decision?.hasPrefix("not promoted") == true)
    }
}
