import Foundation
import ImagingCore
import NeuralEngine
import Segmentation
import Testing
@testable import Training

@Suite(.serialized) struct TrainerTests {
    func options(steps: Int) -> TrainingOptions {
        var o = TrainingOptions(steps: steps)
        o.sampler = SamplerOptions(batchSize: 2)   // augmentation on: resumption must reproduce it too
        o.validateEvery = 3
        o.checkpointEvery = 1
        o.earlyStopPatience = 0
        o.learningRate = 1e-3
        o.seed = 5
        return o
    }

    /// `options(steps:)` with a negligible rate: the weights stay where they start.
    func frozenOptions(steps: Int) -> TrainingOptions {
        var o = options(steps: steps)
        o.learningRate = 1e-12
        o.minimumLearningRate = 1e-12
        return o
    }

    func load(_ data: String, plan: ModelPlan) throws -> TrainingData {
        let cases = try TrainingCase.discover(in: data, catalog: Fixtures.catalog)
        return try TrainingData.load(cases: cases, plan: plan, catalog: Fixtures.catalog, splitPath: data + "/split.json",
                                     cacheDirectory: nil, validationFraction: 0.5)
    }

    @Test func resumeAfterInterruptionGivesTheSameWeights() throws {
        let data = try Fixtures.writeCases("resume")
        defer { Fixtures.remove(data) }
        let plan = Fixtures.thighPlan()
        let trainingData = try load(data, plan: plan)
        #expect(!trainingData.validation.isEmpty)
        let whole = Fixtures.temporaryDirectory("whole"), parts = Fixtures.temporaryDirectory("parts")
        defer { Fixtures.remove(whole, parts) }

        let t = try Trainer(plan: plan, loss: "xent_plus + dice_log", options: options(steps: 6))
        t.threadCount = 1
        let a = try t.run(data: trainingData, output: whole, resume: false)
        #expect(a.status == .completed && a.stepsDone == 6)

        var steps = 0
        let first = try t.run(data: trainingData, output: parts, resume: false, shouldStop: { steps >= 4 }, onEvent: { event in
            if case .step = event { steps += 1 }
        })
        #expect(first.status == .interrupted && first.stepsDone == 4)
        var resumedAt: Int?
        let second = try t.run(data: trainingData, output: parts, resume: true, onEvent: { event in
            if case .resumed(let s) = event { resumedAt = s }
        })
        #expect(resumedAt == 4 && second.status == .completed && second.stepsDone == 6)

        let x = try SafeTensorsFile(contentsOf: whole + "/training/state.safetensors")
        let y = try SafeTensorsFile(contentsOf: parts + "/training/state.safetensors")
        #expect(x.names.sorted() == y.names.sorted())
        #expect(x.names.contains { $0.hasPrefix("optimizer.adam.m.") })
        for name in x.names { #expect(x.tensors[name] == y.tensors[name], "tensor \(name) differs") }
        // Validation history: equal up to the JSON round trip of the resumed part (last digit).
        #expect(a.validations.map(\.step) == second.validations.map(\.step))
        for (u, v) in zip(a.validations, second.validations) {
            #expect(abs(u.meanDice - v.meanDice) <= 1e-12 && abs(u.meanTrainingLoss - v.meanTrainingLoss) <= 1e-12)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: whole + "/weights.safetensors"))
                == Data(contentsOf: URL(fileURLWithPath: parts + "/weights.safetensors")))

        // A resume with another loss is refused.
        let other = try Trainer(plan: plan, loss: "xent_or", options: options(steps: 8))
        #expect(throws: (any Error).self) { try other.run(data: trainingData, output: parts, resume: true) }
    }

    @Test func tinyEndToEndTrainingLowersTheLoss() throws {
        let data = try Fixtures.writeCases("e2e")
        defer { Fixtures.remove(data) }
        let plan = Fixtures.thighPlan()
        let trainingData = try load(data, plan: plan)
        let out = Fixtures.temporaryDirectory("e2e-out")
        defer { Fixtures.remove(out) }
        var o = TrainingOptions(steps: 40)
        o.sampler = SamplerOptions(batchSize: 4, augmentation: .none)
        o.learningRate = 1e-2
        o.validateEvery = 20
        var losses: [Double] = []
        let t = try Trainer(plan: plan, loss: "xent_plus + 0.1*dice_soft", options: o)
        let report = try t.run(data: trainingData, output: out, resume: false, onEvent: { event in
            if case .step(let p) = event { losses.append(p.loss) }
        })
        #expect(losses.count == 40)
        let early = losses.prefix(8).reduce(0, +) / 8, late = losses.suffix(8).reduce(0, +) / 8
        #expect(late < 0.7 * early, "loss \(early) → \(late)")
        #expect(report.validations.map(\.step) == [20, 40])
        for f in ["plan.json", "weights.safetensors", "metrics.json", "MODEL.md", "report.json", "report.md"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + f), "\(f) missing")
        }
        let metrics = try JSONDecoder().decode(ModelMetrics.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/metrics.json")))
        #expect(metrics.steps == 40 && metrics.dataSnapshotHash == trainingData.snapshotHash)
        #expect(!metrics.validationDice.isEmpty && metrics.medianAbsVolumeErrorPercent != nil)
        let written = try JSONDecoder().decode(ModelPlan.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/plan.json")))
        #expect(written.loss == "xent_plus + 0.1*dice_soft")
        // Plain xent cannot read the super labels of the adductor dataset: refused before training.
        let plain = try Trainer(plan: plan, loss: "xent", options: o)
        let xentOut = Fixtures.temporaryDirectory("xent")
        defer { Fixtures.remove(xentOut) }
        #expect(throws: ImagingError.self) { try plain.run(data: trainingData, output: xentOut, resume: false) }
        // The shipped weights load into the plan's network.
        let net = t.makeNetwork()
        try net.loadCheckpoint(from: out + "/weights.safetensors")
    }

    @Test func wallTimeBoundStopsWithAStateAndAModelFolder() throws {
        let data = try Fixtures.writeCases("walltime")
        defer { Fixtures.remove(data) }
        let plan = Fixtures.thighPlan()
        let trainingData = try load(data, plan: plan)
        var o = options(steps: 100)
        o.maxWallSeconds = 0
        let out = Fixtures.temporaryDirectory("walltime-out")
        defer { Fixtures.remove(out) }
        let report = try Trainer(plan: plan, loss: "mce + mdice", options: o).run(data: trainingData, output: out, resume: false)
        #expect(report.status == .timeLimit && report.stepsDone == 0 && report.bestStep == nil)
        #expect(FileManager.default.fileExists(atPath: out + "/weights.safetensors"))
        #expect(FileManager.default.fileExists(atPath: out + "/training/state.safetensors"))
        let md = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        #expect(md.contains("| status | time_limit |") && md.contains("| steps | 0 of 100 |"))

        // Stopped by the bound between validations (validated at 3, stopped at 4): the last
        // weights are validated too before the model folder is written.
        let between = Fixtures.temporaryDirectory("walltime-between")
        defer { Fixtures.remove(between) }
        var steps = 0
        let t = try Trainer(plan: plan, loss: "mce + mdice", options: options(steps: 100))
        _ = try t.run(data: trainingData, output: between, resume: false, shouldStop: { steps >= 4 }, onEvent: { event in
            if case .step = event { steps += 1 }
        })
        let bounded = try Trainer(plan: plan, loss: "mce + mdice", options: o).run(data: trainingData, output: between, resume: true)
        #expect(bounded.status == .timeLimit && bounded.stepsDone == 4 && bounded.validations.map(\.step) == [3, 4])
    }

    /// `initialWeights`: a fresh run starts from the given weights (with a negligible rate, the
    /// result stays at them), and they are part of the run key.
    @Test func fineTuningStartsFromTheGivenWeights() throws {
        let data = try Fixtures.writeCases("init")
        defer { Fixtures.remove(data) }
        let plan = Fixtures.thighPlan()
        let trainingData = try load(data, plan: plan)
        let out = Fixtures.temporaryDirectory("init-out"), fresh = Fixtures.temporaryDirectory("init-fresh")
        defer { Fixtures.remove(out, fresh) }
        let a = plan.architecture
        let start = out + "/start.safetensors"
        try UNet(config: UNetConfig(inChannels: 1, classes: plan.outputs.count, baseWidth: a.baseWidth, depth: a.depth), seed: 99)
            .saveCheckpoint(to: start)
        let o = frozenOptions(steps: 2)
        let tuned = try Trainer(plan: plan, loss: "xent_plus", options: o)
        tuned.initialWeights = start
        _ = try tuned.run(data: trainingData, output: out, resume: false)
        let plain = try Trainer(plan: plan, loss: "xent_plus", options: o)
        _ = try plain.run(data: trainingData, output: fresh, resume: false)
        let s = try SafeTensorsFile(contentsOf: start)
        let t = try SafeTensorsFile(contentsOf: out + "/weights.safetensors")
        let f = try SafeTensorsFile(contentsOf: fresh + "/weights.safetensors")
        let conv = try #require(s.names.first { $0.hasSuffix("weight") && (s.tensors[$0]?.shape.count ?? 0) == 4 })
        let diffTuned = zip(s.tensors[conv]!.floats, t.tensors[conv]!.floats).map { abs($0 - $1) }.max()!
        let diffFresh = zip(s.tensors[conv]!.floats, f.tensors[conv]!.floats).map { abs($0 - $1) }.max()!
        #expect(diffTuned < 1e-6 && diffFresh > 1e-3, "tuned \(diffTuned), fresh \(diffFresh)")
        #expect(try tuned.runKey(data: trainingData) != (try plain.runKey(data: trainingData)))
    }

    /// Starting weights of a narrower network are widened (Net2WiderNet): the run says so, the
    /// model has the plan's width, and with a negligible rate its validation scores what the
    /// narrow weights score (function-preserving up to the 1 % symmetry-breaking noise and one
    /// step's running-statistics update), not what a fresh network of that width scores.
    @Test func narrowerStartingWeightsAreWidened() throws {
        let data = try Fixtures.writeCases("widen")
        defer { Fixtures.remove(data) }
        var plan = Fixtures.thighPlan()
        let trainingData = try load(data, plan: plan)
        let narrowOut = Fixtures.temporaryDirectory("widen-narrow"), wideOut = Fixtures.temporaryDirectory("widen-wide")
        defer { Fixtures.remove(narrowOut, wideOut) }
        let narrowScore = try Trainer(plan: plan, loss: "xent_plus + dice_soft", options: options(steps: 30))
            .run(data: trainingData, output: narrowOut, resume: false).validations.last!.meanDice
        let narrowWidth = plan.architecture.baseWidth
        plan.architecture.baseWidth = narrowWidth + 2
        let o = frozenOptions(steps: 1)
        let wide = try Trainer(plan: plan, loss: "xent_plus + dice_soft", options: o)
        wide.initialWeights = narrowOut + "/weights.safetensors"
        var widened: (Int, Int)?
        let report = try wide.run(data: trainingData, output: wideOut, resume: false, onEvent: { event in
            if case .widened(let from, let to) = event { widened = (from, to) }
        })
        #expect(widened.map { [$0.0, $0.1] } == [narrowWidth, narrowWidth + 2])
        let weights = try SafeTensorsFile(contentsOf: wideOut + "/weights.safetensors")
        #expect(UNetWidening.baseWidth(of: weights) == narrowWidth + 2)
        let wideScore = try #require(report.validations.last?.meanDice)
        // A fresh network of the wide plan (no starting weights) for contrast.
        let freshScore = try Trainer(plan: plan, loss: "xent_plus + dice_soft", options: o)
            .run(data: trainingData, output: wideOut + "-fresh", resume: false).validations.last!.meanDice
        Fixtures.remove(wideOut + "-fresh")
        // (Measured: narrow 0.0289, widened 0.0293, fresh 0.0049: 30 steps on the tiny fixture.)
        #expect(narrowScore - freshScore > 0.01, "narrow \(narrowScore), fresh \(freshScore)")
        #expect(abs(wideScore - narrowScore) < 0.2 * (narrowScore - freshScore), "narrow \(narrowScore), widened \(wideScore)")

        // A plan of another depth is refused with the plan named in the remedy.
        plan.architecture.depth += 1
        let other = try Trainer(plan: plan, loss: "xent_plus", options: o)
        other.initialWeights = narrowOut + "/weights.safetensors"
        #expect(throws: ImagingError.self) { try other.run(data: trainingData, output: wideOut + "-depth", resume: false) }
        Fixtures.remove(wideOut + "-depth")
    }
}
