import Testing
@testable import ModelRegistry
import Training

@Suite struct GateTests {
    /// A validation result with the given class Dice and median volume error.
    static func result(_ dice: [String: Double], volume: Double?) -> ValidationResult {
        let mean = dice.isEmpty ? 0 : dice.sorted { $0.key < $1.key }.map(\.value).reduce(0, +) / Double(dice.count)
        return ValidationResult(classDice: dice, meanDice: mean, classVolumeErrorPercent: [:], medianAbsVolumeErrorPercent: volume, cases: [])
    }

    @Test func identicalScoresAreAccepted() {
        let r = Self.result(["a": 0.8, "b": 0.6], volume: 10)
        let d = ModelGate().decide(current: r, candidate: r)
        #expect(d.accepted)
        #expect(d.reasons.count == 3)
        #expect(d.meanDiceChange == 0 && d.volumeErrorChangePoints == 0)
    }
}
