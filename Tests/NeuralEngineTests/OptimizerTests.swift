import Testing
@testable import NeuralEngine

@Suite struct OptimizerTests {
    /// Adam by hand in Double for one scalar, PyTorch's formula (AdamW decay first).
    func referenceAdam(p0: Double, grads: [Double], lr: Double, wd: Double) -> Double {
        var p = p0, m = 0.0, v = 0.0
        for (t, g) in grads.enumerated() {
            let step = Double(t + 1)
            p *= 1 - lr * wd
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            let denom = v.squareRoot() / (1 - pow(0.999, step)).squareRoot() + 1e-8
            p -= lr / (1 - pow(0.9, step)) * m / denom
        }
        return p
    }

    @Test(arguments: [0.0, 0.1])
    func adamMatchesHandComputation(weightDecay: Double) {
        let arena = Arena(parameters: [("a", [3])], buffers: [], counters: [])
        let start: [Float] = [0.5, -1, 2]
        let grads: [[Float]] = [[0.1, -0.2, 3], [0.05, 0.4, -1], [-0.3, 0.1, 0.2]]
        for i in 0..<3 { arena.params[i] = start[i] }
        var adam = Adam(config: AdamConfig(learningRate: 0.01, weightDecay: Float(weightDecay)))
        for g in grads {
            for i in 0..<3 { arena.grads[i] = g[i] }
            adam.update(arena)
        }
        #expect(adam.step == 3)
        for i in 0..<3 {
            let expected = referenceAdam(p0: Double(start[i]), grads: grads.map { Double($0[i]) }, lr: 0.01, wd: weightDecay)
            #expect(abs(Double(arena.params[i]) - expected) < 1e-6)
        }
        // The first step moves every parameter by about lr (Adam's sign-like first step).
        #expect(abs(referenceAdam(p0: 0, grads: [5], lr: 0.01, wd: 0) + 0.01) < 1e-8)
    }

    @Test func clippingByGlobalNorm() {
        let arena = Arena(parameters: [("a", [2]), ("b", [1])], buffers: [], counters: [])
        arena.grads[0] = 3; arena.grads[1] = 0; arena.grads[2] = 4  // norm 5
        let norm = clipGradientNorm(arena, maxNorm: 1)
        #expect(abs(norm - 5) < 1e-6)
        #expect(abs(arena.grads[0] - 0.6) < 1e-5 && abs(arena.grads[2] - 0.8) < 1e-5)
        clipGradientNorm(arena, maxNorm: 10)  // below the limit: unchanged
        #expect(abs(arena.grads[0] - 0.6) < 1e-5)
    }

    @Test func schedules() {
        var constant = ConstantSchedule(rate: 0.1)
        #expect(constant.rate(afterEpoch: 50, validationLoss: 1) == 0.1)
        var step = StepSchedule(rate: 1, stepSize: 10, gamma: 0.5)
        #expect(step.rate(afterEpoch: 9, validationLoss: nil) == 1)
        #expect(step.rate(afterEpoch: 10, validationLoss: nil) == 0.5)
        #expect(step.rate(afterEpoch: 25, validationLoss: nil) == 0.25)
        var plateau = ReduceOnPlateauSchedule(rate: 1, factor: 0.5, patience: 2)
        let losses = [1.0, 0.9, 0.9, 0.9, 0.9, 0.5, 0.6, 0.6, 0.6]
        let rates = losses.enumerated().map { plateau.rate(afterEpoch: $0.offset + 1, validationLoss: $0.element) }
        // improvement, improvement, 3 bad epochs (> patience 2) -> halve at the 5th; then 0.5 improves,
        // 3 more bad -> halve again at the 9th.
        #expect(rates == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25])
    }
}

#if canImport(Glibc)
import Glibc
#endif
