import Testing
@testable import NeuralEngine

/// Finite-difference checks of every named loss on a partially labelled batch with super labels
/// and ignored pixels. Internals run in Double; the step is 1e-3 on Float logits and the
/// quotient uses the step actually taken, so the truncation error (~1e-6 of the scale) dominates:
/// tolerance 1e-4 relative to the largest gradient entry.
@Suite struct LossGradientTests {
    static let options: LossOptions = {
        var o = LossOptions()
        o.classWeights = [0.5, 1, 2, 1.5, 0.75]
        return o
    }()

    @Test(arguments: LossCatalog.names)
    func finiteDifferences(name: String) throws {
        let loss = try #require(LossCatalog.make(name, options: Self.options))
        for seed: UInt64 in [11, 12] {
            var lc = LossCase.random(seed: seed)
            // Plain cross-entropy knows no super labels (it traps on them): give it classes only.
            if name == "xent" { lc.target = lc.target.map { $0 >= Int32(lc.shape.c) ? 0 : $0 } }
            let (error, scale) = lossGradientError(loss, lc)
            #expect(scale > 1e-4, "\(name): the gradient is ~0, the check would prove nothing")
            // CrossEntropyLoss (the engine's, Float inside) gets the Float tolerance of LayerTests.
            #expect(error < (name == "xent" ? 1e-3 : 1e-4), "\(name) seed \(seed): relative error \(error)")
        }
    }

    @Test func weightNormalisedCrossEntropyAndSmallEpsilons() {
        let lc = LossCase.random(seed: 13)
        let losses: [any SegmentationLoss] = [
            PresenceMaskedCrossEntropy(mode: .plus, normalization: .weights),
            PresenceMaskedCrossEntropy(mode: .fp, classWeights: [1, 2, 3, 4, 5], normalization: .weights),
            ExclusionCrossEntropy(epsilon: 0.1),
            DiceLoss(kind: .log, masked: true, epsilon: 1e-2),
            FocalTverskyLoss(alpha: 0.3, beta: 0.7, gamma: 2, epsilon: 1e-2),
            MarginalDiceLoss(epsilon: 1e-2),
            ExclusionDiceLoss(epsilon: 1e-2),
        ]
        for loss in losses {
            let (error, scale) = lossGradientError(loss, lc)
            #expect(scale > 1e-4)
            #expect(error < 1e-4, "\(loss): relative error \(error)")
        }
    }

    @Test func weightedSumGradientIsTheWeightedSumOfGradients() throws {
        let lc = LossCase.random(seed: 14)
        let sum = try LossExpression.parse("xent_plus + 0.1*dice_soft + 2*(ece + edice)")
        let (value, grad) = lc.run(sum)
        var expectedValue = 0.0
        var expectedGrad = [Double](repeating: 0, count: lc.shape.count)
        for (name, w) in [("xent_plus", 1.0), ("dice_soft", 0.1), ("ece", 2.0), ("edice", 2.0)] {
            let r = lc.run(LossCatalog.make(name)!)
            expectedValue += w * r.value
            for i in expectedGrad.indices { expectedGrad[i] += w * Double(r.grad[i]) }
        }
        #expect(abs(value - expectedValue) < 1e-12 * max(1, abs(expectedValue)))
        #expect(relativeError(grad.map(Double.init), expectedGrad, floor: 1e-6) < 1e-6)
        let (error, _) = lossGradientError(sum, lc)
        #expect(error < 1e-4)
        let scratch = Buf(lc.shape.count)
        let parts = lc.target.withUnsafeBufferPointer {
            sum.evaluate(logits: lc.logits.c, target: $0.baseAddress!, info: lc.info, shape: lc.shape, dlogits: scratch.p)
        }
        #expect(parts.terms.count == 4)
        #expect(abs(parts.terms[1] - lc.value(DiceLoss(kind: .soft))) < 1e-12)
    }
}
