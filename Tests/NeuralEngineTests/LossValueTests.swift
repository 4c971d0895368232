import Testing
@testable import NeuralEngine

#if canImport(Glibc)
import Glibc
#endif

/// Hand-computed values of the partial-label losses on tiny cases (docs/losses.md).
@Suite struct LossValueTests {
    /// Three channels; the image annotates class 1 only, so k = [0, 1, 0].
    static let partial1 = ImageLabelInfo.partial(channels: 3, annotatedForeground: [1])

    @Test func backgroundPresenceConvention() {
        #expect(Self.partial1.annotated == [false, true, false])
        #expect(ImageLabelInfo.partial(channels: 3, annotatedForeground: [1, 2]).annotated == [true, true, true])
        #expect(ImageLabelInfo().presence(channels: 2) == [true, true])
        let info = ImageLabelInfo(superLabels: [[1, 2]])
        #expect(info.channelSet(forTarget: 3, channels: 3) == [1, 2])
        #expect(info.channelSet(forTarget: 2, channels: 3) == [2])
    }

    @Test func falsePositiveOfAnAnnotatedClassCountsInOrAndPlusNotBase() {
        // Pixel 0: background, predicted class 1 (annotated): a false positive.
        // Pixel 1: background, predicted class 2 (unannotated): must cost nothing.
        let (logits, shape) = logitsBuf([[0, 2, 0], [0, 0, 2]])
        let lc = LossCase(shape: shape, logits: logits, target: [0, 0], info: [Self.partial1])
        let fp = log(2 + exp(2.0))  // −log q_0 at pixel 0
        let base = lc.run(PresenceMaskedCrossEntropy(mode: .base))
        #expect(base.value == 0)
        #expect(base.grad.allSatisfy { $0 == 0 })
        for mode in [PresenceMaskedCrossEntropy.Mode.or, .plus, .fnOrFp, .fnPlusFp, .fp] {
            let r = lc.run(PresenceMaskedCrossEntropy(mode: mode))
            #expect(abs(r.value - fp / 2) < 1e-12, "\(mode)")  // w = k_0 + k_1 = 1, M = 2
            #expect((0..<3).allSatisfy { r.grad[$0 * 2 + 1] == 0 }, "\(mode): unannotated prediction has a gradient")
            #expect(r.grad[0] < 0)  // pushes the background logit up at the false positive
        }
        // With α_1 = 3 the ISMRM `fp` weight of that pixel is 3; the journal modes ignore α.
        let weighted = lc.value(PresenceMaskedCrossEntropy(mode: .fp, classWeights: [1, 3, 1]))
        #expect(abs(weighted - 3 * fp / 2) < 1e-12)
        #expect(abs(lc.value(PresenceMaskedCrossEntropy(mode: .or, classWeights: [1, 3, 1])) - fp / 2) < 1e-12)
        // Weighted mean instead of the pixel mean: Σ w ℓ / Σ w = fp / 1.
        #expect(abs(lc.value(PresenceMaskedCrossEntropy(mode: .or, normalization: .weights)) - fp) < 1e-12)
    }

    @Test func correctAnnotatedPixelWeighsOneInOrAndTwoInPlus() {
        let (logits, shape) = logitsBuf([[0, 2, 0]])
        let lc = LossCase(shape: shape, logits: logits, target: [1], info: [Self.partial1])
        let ce = log(2 + exp(2.0)) - 2  // −log q_1
        #expect(abs(lc.value(PresenceMaskedCrossEntropy(mode: .base)) - ce) < 1e-12)
        #expect(abs(lc.value(PresenceMaskedCrossEntropy(mode: .or)) - ce) < 1e-12)
        #expect(abs(lc.value(PresenceMaskedCrossEntropy(mode: .plus)) - 2 * ce) < 1e-12)
        #expect(abs(lc.value(PresenceMaskedCrossEntropy(mode: .fp, classWeights: [1, 0.5, 1])) - 0.5 * ce) < 1e-12)
    }

    @Test func unannotatedClassFoundByTheNetworkCostsNothing() throws {
        // Background pixels: swapping logits 0 ↔ 2 (class 2 unannotated) makes the network "find"
        // class 2 there; every presence-aware loss must not change. Plain xent must (the test's teeth).
        let a: [[Float]] = [[2, 0.5, -1], [1.5, -0.5, 0.2], [0.1, 1.8, -0.3], [-1, 0.3, 0.9]]
        let target: [Int32] = [0, 0, 1, 1]
        var b = a
        for p in 0..<2 { b[p].swapAt(0, 2) }
        let (la, shape) = logitsBuf(a), (lb, _) = logitsBuf(b)
        let ca = LossCase(shape: shape, logits: la, target: target, info: [Self.partial1])
        let cb = LossCase(shape: shape, logits: lb, target: target, info: [Self.partial1])
        for name in ["xent_base", "xent_or", "xent_plus", "xent_fn", "xent_fp", "xent_fn_or_fp", "xent_fn_plus_fp",
                     "dice_soft", "dice_log", "focal_tversky", "mce", "mdice", "ece"] {
            let loss = try #require(LossCatalog.make(name))
            #expect(abs(ca.value(loss) - cb.value(loss)) < 1e-12, "\(name)")
        }
        // Exclusion Dice's denominator sums q_2 over every pixel: finding class 2 on background
        // never costs, it lowers the term (docs/losses.md).
        let edice = ExclusionDiceLoss()
        #expect(cb.value(edice) < ca.value(edice))
        #expect(abs(ca.value(CrossEntropyLoss()) - cb.value(CrossEntropyLoss())) > 0.5)
    }

    @Test func withAllClassesPresentTheMaskedLossesReduceToTheUnmaskedOnes() throws {
        var lc = LossCase.random(seed: 21)
        lc.target = lc.target.map { $0 >= Int32(lc.shape.c) ? 1 : $0 }
        for info in [[ImageLabelInfo(), ImageLabelInfo()], [ImageLabelInfo(annotated: [Bool](repeating: true, count: 5))] + [ImageLabelInfo()]] {
            lc.info = info
            let xent = lc.run(CrossEntropyLoss())
            let dice = lc.run(LossCatalog.make("dice_soft_full")!)
            let logDice = lc.run(LossCatalog.make("dice_log_full")!)
            // `plus` doubles every pixel (k_t + k_ŷ = 2); CrossEntropyLoss runs in Float (1e-6).
            let pairs: [(String, (value: Double, grad: [Float]), Double)] = [
                ("xent_base", xent, 1), ("xent_plus", xent, 2), ("xent_fn", xent, 1),
                ("xent_fn_plus_fp", xent, 2), ("mce", xent, 1), ("xent_super", xent, 1),
                ("xent_super_naive", xent, 1), ("dice_soft", dice, 1), ("mdice", dice, 1), ("dice_log", logDice, 1),
            ]
            for (name, reference, factor) in pairs {
                let r = lc.run(LossCatalog.make(name)!)
                #expect(abs(r.value - factor * reference.value) < 1e-6 * abs(reference.value), "\(name)")
                #expect(relativeError(r.grad, reference.grad.map { $0 * Float(factor) }, floor: 1e-6) < 1e-5, "\(name)")
            }
            // `or` is Σ_c k_c (y OR ŷ): weight 1 where the prediction is right, k_t + k_ŷ = 2 where wrong.
            let hw = lc.shape.h * lc.shape.w
            var sum = 0.0, pixels = 0
            for b in 0..<lc.shape.n {
                for p in 0..<hw where lc.target[b * hw + p] >= 0 {
                    let x = (0..<lc.shape.c).map { lc.logits.p[(b * lc.shape.c + $0) * hw + p] }
                    let t = Int(lc.target[b * hw + p])
                    let predicted = x.firstIndex(of: x.max()!)!
                    sum += (predicted == t ? 1 : 2) * -log(softmax(x)[t])
                    pixels += 1
                }
            }
            for name in ["xent_or", "xent_fn_or_fp"] {
                #expect(abs(lc.value(LossCatalog.make(name)!) - sum / Double(pixels)) < 1e-12, "\(name)")
            }
            for name in ["ece", "edice"] {
                let r = lc.run(LossCatalog.make(name)!)
                #expect(r.value == 0 && r.grad.allSatisfy { $0 == 0 }, "\(name)")
            }
        }
    }

    @Test func superLabelCrossEntropyIsMinusLogOfTheSummedProbabilities() {
        // C = 4, super label {1, 2} is target value 4.
        let x: [Float] = [0.5, 1, -1, 2], y: [Float] = [0.2, -0.4, 0.3, 1.1]
        let (logits, shape) = logitsBuf([x, y])
        let info = [ImageLabelInfo(superLabels: [[1, 2]])]
        let lc = LossCase(shape: shape, logits: logits, target: [4, 3], info: info)
        let q = softmax(x), r = softmax(y)
        let expected = (-log(q[1] + q[2]) - log(r[3])) / 2
        let result = lc.run(SuperLabelCrossEntropy())
        #expect(abs(result.value - expected) < 1e-12)
        // dℓ/dx_j = q_j − [j ∈ S] q_j / (q_1 + q_2), halved by the mean.
        for j in 0..<4 {
            let inSet = (j == 1 || j == 2) ? q[j] / (q[1] + q[2]) : 0
            #expect(abs(Double(result.grad[j * 2]) - (q[j] - inSet) / 2) < 1e-7)
        }
        // Naive baseline: the super-labelled pixel is masked out, the other is plain CE.
        let naive = lc.run(NaiveMaskedCrossEntropy())
        #expect(abs(naive.value + log(r[3])) < 1e-12)
        #expect((0..<4).allSatisfy { naive.grad[$0 * 2] == 0 })
        // A super label in the presence-masked CE: y-part max over the set (class 1 annotated).
        let partial = [ImageLabelInfo.partial(channels: 4, annotatedForeground: [1], superLabels: [[1, 2]])]
        let masked = LossCase(shape: shape, logits: logits, target: [4, 3], info: partial)
        #expect(abs(masked.value(PresenceMaskedCrossEntropy(mode: .base)) + log(q[1] + q[2]) / 2) < 1e-12)
    }

    @Test func marginalCrossEntropyMergesBackgroundWithUnannotatedClasses() {
        // C = 4, annotated {1}: background pixel's probability is q0 + q2 + q3.
        let x: [Float] = [0.3, 1.2, -0.7, 0.9], y: [Float] = [-0.2, 0.4, 1.0, 0.1]
        let (logits, shape) = logitsBuf([x, y])
        let info = [ImageLabelInfo.partial(channels: 4, annotatedForeground: [1])]
        let lc = LossCase(shape: shape, logits: logits, target: [0, 1], info: info)
        let q = softmax(x), r = softmax(y)
        #expect(abs(lc.value(MarginalCrossEntropy()) - (-log(q[0] + q[2] + q[3]) - log(r[1])) / 2) < 1e-12)
        // Marginal Dice: groups B = {0, 2, 3} and {1}.
        let pB = [q[0] + q[2] + q[3], r[0] + r[2] + r[3]], p1 = [q[1], r[1]]
        let dB = (2 * pB[0] + 1) / (pB[0] + pB[1] + 1 + 1), d1 = (2 * p1[1] + 1) / (p1[0] + p1[1] + 1 + 1)
        #expect(abs(lc.value(MarginalDiceLoss()) - ((1 - dB) + (1 - d1)) / 2) < 1e-12)
    }

    @Test func exclusionLossesPenaliseUnannotatedClassesOnAnnotatedStructures() {
        // C = 3, annotated {1}; pixel 0 labelled 1 (class 2 ruled out), pixel 1 background (not ruled out).
        let x: [Float] = [0, 1, 2], y: [Float] = [1, -1, 0.5]
        let (logits, shape) = logitsBuf([x, y])
        let lc = LossCase(shape: shape, logits: logits, target: [1, 0], info: [Self.partial1])
        let q = softmax(x), r = softmax(y)
        #expect(abs(lc.value(ExclusionCrossEntropy()) - log(q[2] + 1) / 2) < 1e-12)
        #expect(abs(lc.value(ExclusionCrossEntropy(epsilon: 0.5)) - log(q[2] + 0.5) / 2) < 1e-12)
        // eDice for n = 2: I = q2 (e = 1 at pixel 0 only), P = q2 + r2, Y = 1.
        #expect(abs(lc.value(ExclusionDiceLoss()) - 2 * q[2] / (q[2] + r[2] + 1 + 1)) < 1e-12)
    }

    @Test func diceByHand() {
        // Fully labelled, C = 2, targets [0, 1]; pixel 0 logits [1, 0], pixel 1 [0, 0].
        let (logits, shape) = logitsBuf([[1, 0], [0, 0]])
        let lc = LossCase(shape: shape, logits: logits, target: [0, 1], info: [ImageLabelInfo()])
        let s = 1 / (1 + exp(-1.0))
        let d0 = (2 * s + 1) / (s + 0.5 + 1 + 1), d1 = (2 * 0.5 + 1) / ((1 - s) + 0.5 + 1 + 1)
        #expect(abs(lc.value(DiceLoss(kind: .soft)) - ((1 - d0) + (1 - d1)) / 2) < 1e-12)
        #expect(abs(lc.value(DiceLoss(kind: .log)) - (-log(d0) - log(d1)) / 2) < 1e-12)
        // Masked to class 1 only: just 1 − d1.
        let only1 = LossCase(shape: shape, logits: logits, target: [0, 1], info: [ImageLabelInfo(annotated: [false, true])])
        #expect(abs(only1.value(DiceLoss(kind: .soft)) - (1 - d1)) < 1e-12)
        #expect(abs(only1.value(DiceLoss(kind: .soft, masked: false)) - ((1 - d0) + (1 - d1)) / 2) < 1e-12)
        // Focal Tversky with α = β = 1/2, γ = 1 is soft Dice with twice the smoothing.
        let lcr = LossCase.random(seed: 22)
        let ft = lcr.run(FocalTverskyLoss(alpha: 0.5, beta: 0.5, gamma: 1, epsilon: 0.5))
        let dice = lcr.run(DiceLoss(kind: .soft, epsilon: 1))
        #expect(abs(ft.value - dice.value) < 1e-12)
        #expect(relativeError(ft.grad, dice.grad, floor: 1e-6) < 1e-5)
        // γ = 2 takes the square root of 1 − TI (by hand on the two-pixel case, class weights k).
        let ti0 = (s + 1) / (s + 0.7 * (1 - s) + 0.3 * 0.5 + 1)
        let ti1 = (0.5 + 1) / (0.5 + 0.7 * 0.5 + 0.3 * (1 - s) + 1)
        #expect(abs(lc.value(FocalTverskyLoss(gamma: 2)) - ((1 - ti0).squareRoot() + (1 - ti1).squareRoot()) / 2) < 1e-12)
    }

    @Test func ignoredPixelsCountNowhere() throws {
        let lc = LossCase.random(seed: 23)
        var dropped = lc
        // Replace the ignored pixels' logits: no loss may change.
        let hw = lc.shape.h * lc.shape.w
        let other = Buf(random: lc.shape.count, seed: 99, scale: 3)
        dropped.logits = Buf(lc.logits.array)
        for b in 0..<lc.shape.n {
            for p in 0..<hw where lc.target[b * hw + p] == -1 {
                for j in 0..<lc.shape.c { dropped.logits.p[(b * lc.shape.c + j) * hw + p] = other.p[(b * lc.shape.c + j) * hw + p] }
            }
        }
        #expect(lc.target.contains(-1))
        for name in LossCatalog.names where name != "xent" {
            let loss = try #require(LossCatalog.make(name))
            #expect(abs(lc.value(loss) - dropped.value(loss)) < 1e-12, "\(name)")
        }
    }
}
