import Configuration
import Testing
@testable import ModelRegistry
@testable import Training

/// The gate's three rules at and just over each tolerance, with hand-made validation results.
@Suite struct GateTests {
    /// A validation result with the given class Dice (mean over classes) and median volume error.
    static func result(_ dice: [String: Double], volume: Double?) -> ValidationResult {
        let mean = dice.isEmpty ? 0 : dice.sorted { $0.key < $1.key }.map(\.value).reduce(0, +) / Double(dice.count)
        return ValidationResult(classDice: dice, meanDice: mean, classVolumeErrorPercent: [:], medianAbsVolumeErrorPercent: volume, cases: [])
    }

    @Test func identicalScoresAreAcceptedWithOneReasonPerRule() {
        let r = Self.result(["a": 0.8, "b": 0.6], volume: 10)
        let d = ModelGate().decide(current: r, candidate: r)
        #expect(d.accepted)
        #expect(d.reasons.count == 3)
        #expect(d.meanDiceChange == 0 && d.volumeErrorChangePoints == 0)
        #expect(d.classes.map(\.name) == ["a", "b"] && d.classes.allSatisfy { $0.withinTolerance && $0.change == 0 })
    }

    @Test func meanDiceDropExactlyAtTheToleranceIsAcceptedAndJustOverIsRejected() {
        let current = Self.result(["a": 0.8], volume: nil)
        // 0.8 − 0.795 = 0.0050000000000000044 in binary: the boundary must still pass.
        let at = ModelGate().decide(current: current, candidate: Self.result(["a": 0.795], volume: nil))
        #expect(at.accepted, "\(at.reasons)")
        let over = ModelGate().decide(current: current, candidate: Self.result(["a": 0.7949], volume: nil))
        #expect(!over.accepted)
        #expect(over.reasons.count == 1 && over.reasons[0].hasPrefix("mean Dice fell from 0.8000 to 0.7949"), "\(over.reasons)")
        #expect(abs(over.meanDiceChange - -0.0051) < 1e-12)
        // A higher mean is always fine.
        #expect(ModelGate().decide(current: current, candidate: Self.result(["a": 0.9], volume: nil)).accepted)
    }

    @Test func oneClassDroppingMoreThanItsToleranceRejectsEvenWhenTheMeanHolds() {
        let current = Self.result(["a": 0.8, "b": 0.6, "only_current": 0.5], volume: nil)
        // a −0.02 exactly, b +0.02, the mean unchanged; a class only one model scores is not compared.
        let at = ModelGate().decide(current: current, candidate: Self.result(["a": 0.78, "b": 0.62, "new": 0.5], volume: nil))
        #expect(at.accepted, "\(at.reasons)")
        let n = at.classes.first { $0.name == "new" }!, o = at.classes.first { $0.name == "only_current" }!
        #expect(n.withinTolerance && n.current == nil && n.change == nil && o.candidate == nil && o.change == nil)
        // a −0.0201, b +0.0201: the mean still holds, the class rule alone rejects.
        let over = ModelGate().decide(current: Self.result(["a": 0.8, "b": 0.6], volume: nil),
                                      candidate: Self.result(["a": 0.7799, "b": 0.6201], volume: nil))
        #expect(abs(over.meanDiceChange) < 1e-12)
        #expect(!over.accepted)
        #expect(over.reasons.count == 1 && over.reasons[0].hasPrefix("class a: Dice fell from 0.8000 to 0.7799"), "\(over.reasons)")
        let a = over.classes.first { $0.name == "a" }!
        #expect(!a.withinTolerance && abs(a.change! - -0.0201) < 1e-12)
    }

    @Test func volumeErrorGrowthAtTheToleranceIsAcceptedAndOverItRejected() {
        let current = Self.result(["a": 0.8], volume: 10)
        #expect(ModelGate().decide(current: current, candidate: Self.result(["a": 0.8], volume: 12)).accepted)
        let over = ModelGate().decide(current: current, candidate: Self.result(["a": 0.8], volume: 12.001))
        #expect(!over.accepted && over.reasons.count == 1 && over.reasons[0].hasPrefix("median absolute volume error grew from 10.00 % to 12.00 %"))
        #expect(abs(over.volumeErrorChangePoints! - 2.001) < 1e-9)
        // A smaller error always passes; a missing error on one side means different validation sets.
        #expect(ModelGate().decide(current: current, candidate: Self.result(["a": 0.8], volume: 1)).accepted)
        #expect(!ModelGate().decide(current: current, candidate: Self.result(["a": 0.8], volume: nil)).accepted)
        let none = ModelGate().decide(current: Self.result(["a": 0.8], volume: nil), candidate: Self.result(["a": 0.8], volume: nil))
        #expect(none.accepted && none.reasons.contains { $0.contains("volume rule does not apply") })
    }

    @Test func nanScoresAndConfiguredTolerancesAreHonoured() {
        var nan = Self.result(["a": 0.8], volume: 10)
        nan.meanDice = .nan
        #expect(!ModelGate().decide(current: Self.result(["a": 0.8], volume: 10), candidate: nan).accepted)

        var config = SegvolConfig()
        config.retrain.gateMeanDiceTolerance = 0.1
        config.retrain.gateClassDiceTolerance = 0.1
        config.retrain.gateVolumeErrorTolerance = 0
        let t = GateTolerances(config.retrain)
        #expect(t == GateTolerances(meanDice: 0.1, classDice: 0.1, volumeErrorPoints: 0))
        #expect(GateTolerances(SegvolConfig().retrain) == GateTolerances())
        let gate = ModelGate(t)
        #expect(gate.decide(current: Self.result(["a": 0.8], volume: 10), candidate: Self.result(["a": 0.71], volume: 10)).accepted)
        #expect(!gate.decide(current: Self.result(["a": 0.8], volume: 10), candidate: Self.result(["a": 0.8], volume: 10.01)).accepted)
    }
}
