import Testing
@testable import NeuralEngine

/// Batch norm, ReLU, max-pool, concat, dropout, softmax: finite differences with per-op
/// tolerances, and explicit expected values at the kinks.
@Suite struct LayerTests {
    @Test func batchNormTrainGradients() {
        // BN is smooth: the O(eps^2) truncation error with eps 1e-2 is ~1e-4 of the gradient scale;
        // Float rounding adds ~1e-4 more (|L| ~ 10 / 2e-2 * 6e-8 * sqrt(M)). Tolerance 3e-3.
        let n = 2, c = 3, hw = 6
        let x = Buf(random: n * c * hw, seed: 20, scale: 2), gamma = Buf(random: c, seed: 21), beta = Buf(random: c, seed: 22)
        let rm = Buf(c), rv = Buf(c, fill: 1), mean = Buf(c), rstd = Buf(c)
        let y = Buf(x.count), r = Buf(random: x.count, seed: 23)
        func loss() -> Double {
            batchNormTrainForward(out: y.p, inp: x.c, gamma: gamma.c, beta: beta.c, runningMean: rm.p, runningVar: rv.p,
                                  mean: mean.p, rstd: rstd.p, n: n, c: c, hw: hw)
            return dot(y.c, r.c, y.count)
        }
        _ = loss()
        let dx = Buf(x.count), dg = Buf(c), db = Buf(c)
        batchNormTrainBackward(dinp: dx.p, dgamma: dg.p, dbeta: db.p, dout: r.c, inp: x.c, gamma: gamma.c,
                               mean: mean.c, rstd: rstd.c, n: n, c: c, hw: hw)
        for (values, grad) in [(x, dx), (gamma, dg), (beta, db)] {
            let idx = sampleIndices(values.count)
            let num = numericalGradient(values.p, indices: idx, eps: 1e-2, loss: loss)
            #expect(relativeError(num, idx.map { Double(grad.p[$0]) }) < 3e-3)
        }
    }

    @Test func batchNormStatisticsAndRunningUpdate() {
        // One channel, values 1, 2, 3, 4 (N=2, HW=2): mean 2.5, biased var 1.25, unbiased 5/3.
        let x = Buf([1, 2, 3, 4]), gamma = Buf([2]), beta = Buf([1])
        let rm = Buf([0]), rv = Buf([1]), mean = Buf(1), rstd = Buf(1), y = Buf(4)
        batchNormTrainForward(out: y.p, inp: x.c, gamma: gamma.c, beta: beta.c, runningMean: rm.p, runningVar: rv.p,
                              mean: mean.p, rstd: rstd.p, n: 2, c: 1, hw: 2)
        let s = 1 / (1.25 + 1e-5).squareRoot()
        let expected = [1.0, 2, 3, 4].map { Float(2 * ($0 - 2.5) * s + 1) }
        #expect(relativeError(y.array, expected) < 1e-6)
        #expect(abs(rm.p[0] - 0.25) < 1e-7)  // 0.9 * 0 + 0.1 * 2.5
        #expect(abs(rv.p[0] - Float(0.9 + 0.1 * 5.0 / 3.0)) < 1e-6)  // unbiased variance
        // Eval mode uses the running statistics.
        batchNormEvalForward(out: y.p, inp: x.c, gamma: gamma.c, beta: beta.c, runningMean: rm.c, runningVar: rv.c, n: 2, c: 1, hw: 2)
        let se = 1 / (Double(rv.p[0]) + 1e-5).squareRoot()
        #expect(relativeError(y.array, [1.0, 2, 3, 4].map { Float(2 * ($0 - 0.25) * se + 1) }) < 1e-6)
    }

    @Test func batchNormEvalGradients() {
        let n = 2, c = 2, hw = 3
        let x = Buf(random: n * c * hw, seed: 24), gamma = Buf(random: c, seed: 25), beta = Buf(random: c, seed: 26)
        let rm = Buf([0.3, -0.2]), rv = Buf([0.5, 2.0]), y = Buf(x.count), r = Buf(random: x.count, seed: 27)
        func loss() -> Double {
            batchNormEvalForward(out: y.p, inp: x.c, gamma: gamma.c, beta: beta.c, runningMean: rm.c, runningVar: rv.c, n: n, c: c, hw: hw)
            return dot(y.c, r.c, y.count)
        }
        let dx = Buf(x.count), dg = Buf(c), db = Buf(c)
        batchNormEvalBackward(dinp: dx.p, dgamma: dg.p, dbeta: db.p, dout: r.c, inp: x.c, gamma: gamma.c,
                              runningMean: rm.c, runningVar: rv.c, n: n, c: c, hw: hw)
        for (values, grad) in [(x, dx), (gamma, dg), (beta, db)] {
            let idx = sampleIndices(values.count)
            let num = numericalGradient(values.p, indices: idx, eps: 1e-2, loss: loss)
            #expect(relativeError(num, idx.map { Double(grad.p[$0]) }) < 2e-3)
        }
    }

    @Test func reluValuesAndKink() {
        let x = Buf([-1, 0, 2, -0.5, 3]), y = Buf(5)
        reluForward(out: y.p, inp: x.c, count: 5)
        #expect(y.array == [0, 0, 2, 0, 3])
        let dy = Buf([10, 20, 30, 40, 50]), dx = Buf(5)
        reluBackward(dinp: dx.p, dout: dy.c, out: y.c, count: 5)
        #expect(dx.array == [0, 0, 30, 0, 50])  // at exactly 0 the gradient is 0 (PyTorch's choice)
    }

    @Test func maxPoolValuesTiesAndGradient() {
        // One 2x4 plane: windows [1 5; 3 2] -> 5 at index 1, [7 7; 7 0] (tie) -> first, index 2.
        let x = Buf([1, 5, 7, 7, 3, 2, 7, 0]), y = Buf(2)
        var argmax = [Int32](repeating: -1, count: 2)
        argmax.withUnsafeMutableBufferPointer { maxPoolForward(out: y.p, argmax: $0.baseAddress!, inp: x.c, n: 1, c: 1, h: 2, w: 4) }
        #expect(y.array == [5, 7])
        #expect(argmax == [1, 2])
        // Backward accumulates onto what is there (the skip gradient).
        let dy = Buf([10, 20]), dx = Buf(8, fill: 1)
        argmax.withUnsafeBufferPointer { maxPoolBackward(dinp: dx.p, dout: dy.c, argmax: $0.baseAddress!, n: 1, c: 1, h: 2, w: 4) }
        #expect(dx.array == [1, 11, 21, 1, 1, 1, 1, 1])
    }

    @Test func maxPoolFiniteDifferencesAwayFromTies() {
        // Distinct values spaced 0.1 apart, perturbed by 1e-2: no argmax changes, so max-pool is
        // locally linear and central differences are exact up to rounding.
        let n = 2, c = 2, h = 4, w = 4
        let x = Buf(n * c * h * w)
        var rng = SeededGenerator(seed: 30)
        var values = (0..<x.count).map { Float($0) * 0.1 }
        values.shuffle(using: &rng)
        for i in values.indices { x.p[i] = values[i] }
        let y = Buf(n * c * 4), r = Buf(random: y.count, seed: 31)
        var argmax = [Int32](repeating: 0, count: y.count)
        func loss() -> Double {
            argmax.withUnsafeMutableBufferPointer { maxPoolForward(out: y.p, argmax: $0.baseAddress!, inp: x.c, n: n, c: c, h: h, w: w) }
            return dot(y.c, r.c, y.count)
        }
        _ = loss()
        let dx = Buf(x.count)
        argmax.withUnsafeBufferPointer { maxPoolBackward(dinp: dx.p, dout: r.c, argmax: $0.baseAddress!, n: n, c: c, h: h, w: w) }
        let idx = Array(0..<x.count)
        let num = numericalGradient(x.p, indices: idx, eps: 1e-2, loss: loss)
        #expect(relativeError(num, idx.map { Double(dx.p[$0]) }) < 1e-3)
    }

    @Test func concatRoundTrip() {
        let a = Buf([1, 2, 3, 4]), b = Buf([5, 6, 7, 8, 9, 10, 11, 12]), out = Buf(12)
        // N=2, Ca=1, Cb=2, HW=2
        concatForward(out: out.p, a: a.c, b: b.c, n: 2, ca: 1, cb: 2, hw: 2)
        #expect(out.array == [1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12])
        let da = Buf(4), db = Buf(8)
        concatBackward(da: da.p, db: db.p, dout: out.c, n: 2, ca: 1, cb: 2, hw: 2)
        #expect(da.array == a.array && db.array == b.array)
    }

    @Test func dropoutMaskAndScale() {
        let count = 10_000
        let x = Buf(count, fill: 1), y = Buf(count), mask = Buf(count)
        var rng = SeededGenerator(seed: 40)
        dropoutForward(out: y.p, inp: x.c, mask: mask.p, count: count, p: 0.25, rng: &rng)
        let kept = y.array.filter { $0 != 0 }
        #expect(kept.allSatisfy { abs($0 - 4.0 / 3.0) < 1e-6 })
        #expect(abs(Double(kept.count) / Double(count) - 0.75) < 0.02)
        let dy = Buf(count, fill: 2), dx = Buf(count)
        dropoutBackward(dinp: dx.p, dout: dy.c, mask: mask.c, count: count)
        for i in 0..<count { #expect(dx.p[i] == 2 * mask.p[i]) }
    }

    @Test func softmaxValuesAndGradients() {
        let n = 2, c = 3, hw = 2
        let x = Buf(random: n * c * hw, seed: 50, scale: 3), y = Buf(x.count), r = Buf(random: x.count, seed: 51)
        softmaxForward(out: y.p, inp: x.c, n: n, c: c, hw: hw)
        // Per pixel the probabilities sum to 1 and follow exp ratios.
        for b in 0..<n {
            for p in 0..<hw {
                let s = (0..<c).reduce(Float(0)) { $0 + y.p[(b * c + $1) * hw + p] }
                #expect(abs(s - 1) < 1e-6)
                let ratio = y.p[(b * c + 1) * hw + p] / y.p[(b * c) * hw + p]
                #expect(abs(ratio - expf(x.p[(b * c + 1) * hw + p] - x.p[(b * c) * hw + p])) < 1e-4 * ratio)
            }
        }
        let dx = Buf(x.count)
        softmaxBackward(dinp: dx.p, dout: r.c, out: y.c, n: n, c: c, hw: hw)
        let idx = Array(0..<x.count)
        let num = numericalGradient(x.p, indices: idx, eps: 1e-2) {
            softmaxForward(out: y.p, inp: x.c, n: n, c: c, hw: hw)
            return dot(y.c, r.c, y.count)
        }
        #expect(relativeError(num, idx.map { Double(dx.p[$0]) }) < 2e-3)
    }

    @Test func crossEntropyValueGradientAndIgnore() {
        // Equal logits over 4 classes: loss log 4 whatever the label.
        let shape = TensorShape(n: 1, c: 4, h: 1, w: 2)
        let logits = Buf(8, fill: 0.7), d = Buf(8)
        let target: [Int32] = [2, -1]  // the second pixel is ignored
        let ce = CrossEntropyLoss()
        let v = target.withUnsafeBufferPointer { ce.loss(logits: logits.c, target: $0.baseAddress!, info: [ImageLabelInfo()], shape: shape, dlogits: d.p) }
        #expect(abs(v - log(4.0)) < 1e-6)
        // dL/dlogits = softmax - onehot over 1 labelled pixel; the ignored pixel gets 0.
        #expect(relativeError(d.array, [0.25, 0, 0.25, 0, -0.75, 0, 0.25, 0]) < 1e-6)

        // Large logits stay finite (stable log-softmax) and the gradient matches finite differences.
        let shape2 = TensorShape(n: 2, c: 3, h: 2, w: 2)
        let x = Buf(random: shape2.count, seed: 60, scale: 4), g = Buf(shape2.count), scratch = Buf(shape2.count)
        x.p[0] = 1000
        let t: [Int32] = [0, 1, 2, 1, 2, 2, 0, 1]
        let info = [ImageLabelInfo(), ImageLabelInfo()]
        func loss() -> Double { t.withUnsafeBufferPointer { ce.loss(logits: x.c, target: $0.baseAddress!, info: info, shape: shape2, dlogits: scratch.p) } }
        let l0 = t.withUnsafeBufferPointer { ce.loss(logits: x.c, target: $0.baseAddress!, info: info, shape: shape2, dlogits: g.p) }
        #expect(l0.isFinite)
        let idx = Array(1..<shape2.count)
        let num = numericalGradient(x.p, indices: idx, eps: 1e-2, loss: loss)
        #expect(relativeError(num, idx.map { Double(g.p[$0]) }) < 2e-3)
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// The fused batch-norm + ReLU kernels against the unfused reference kernels.
@Suite struct FusedBatchNormTests {
    /// hw = 1103: not a multiple of 8 and above the 1024-element flush, so tails and flushes run;
    /// an offset of 300 checks the variance against cancellation.
    @Test(arguments: [(2, 3, 1103, Float(0)), (3, 2, 5, Float(300))])
    func fusedMatchesUnfused(n: Int, c: Int, hw: Int, offset: Float) {
        let count = n * c * hw
        let x = Buf(random: count, seed: 70, scale: 2)
        for i in 0..<count { x.p[i] += offset }
        let gamma = Buf([1.2, -0.7, 0.9]), beta = Buf([0.1, 0.3, -0.2])
        let rm1 = Buf(c, fill: 0.5), rv1 = Buf(c, fill: 2), rm2 = Buf(c, fill: 0.5), rv2 = Buf(c, fill: 2)
        let mean1 = Buf(c), rstd1 = Buf(c), mean2 = Buf(c), rstd2 = Buf(c)
        let y1 = Buf(count), y2 = Buf(count)
        batchNormTrainForward(out: y1.p, inp: x.c, gamma: gamma.c, beta: beta.c, runningMean: rm1.p, runningVar: rv1.p,
                              mean: mean1.p, rstd: rstd1.p, n: n, c: c, hw: hw)
        reluForward(out: y1.p, inp: y1.c, count: count)
        batchNormReluTrainForward(out: y2.p, inp: x.c, gamma: gamma.c, beta: beta.c, runningMean: rm2.p, runningVar: rv2.p,
                                  mean: mean2.p, rstd: rstd2.p, n: n, c: c, hw: hw)
        #expect(relativeError(y2.array, y1.array) < 2e-5)
        #expect(relativeError(mean2.array, mean1.array) < 2e-5)
        #expect(relativeError(rstd2.array, rstd1.array) < 2e-5)
        #expect(relativeError(rm2.array, rm1.array) < 1e-6 && relativeError(rv2.array, rv1.array) < 2e-5)

        let da = Buf(random: count, seed: 71)
        let dz1 = Buf(count), dg1 = Buf(c), db1 = Buf(c)
        reluBackward(dinp: dz1.p, dout: da.c, out: y1.c, count: count)
        batchNormTrainBackward(dinp: dz1.p, dgamma: dg1.p, dbeta: db1.p, dout: dz1.c, inp: x.c, gamma: gamma.c,
                               mean: mean1.c, rstd: rstd1.c, n: n, c: c, hw: hw)
        for scalar in [false, true] {
            let dz2 = Buf(count), dg2 = Buf(c), db2 = Buf(c), sums = Buf(c, fill: 0.25)
            batchNormReluTrainBackward(dinp: dz2.p, dgamma: dg2.p, dbeta: db2.p, dout: da.c, out: y1.c, inp: x.c, gamma: gamma.c,
                                       mean: mean1.c, rstd: rstd1.c, n: n, c: c, hw: hw, dinpSum: sums.p, workers: 2,
                                       scalar: scalar)
            #expect(relativeError(dz2.array, dz1.array) < 2e-5, "scalar \(scalar)")
            #expect(relativeError(dg2.array, dg1.array) < 2e-5 && relativeError(db2.array, db1.array) < 2e-5)
            // dinpSum accumulates the per-channel sum of dinp (~0 for a batch norm: checked
            // against the sum of the written values, and against the 0.25 it started from).
            for ch in 0..<c {
                var s = 0.0, a = 0.0
                for b in 0..<n { for i in 0..<hw { s += Double(dz2.p[(b * c + ch) * hw + i]); a += Double(Swift.abs(dz2.p[(b * c + ch) * hw + i])) } }
                #expect(Swift.abs(Double(sums.p[ch]) - 0.25 - s) <= 1e-6 * a + 1e-7, "channel \(ch) scalar \(scalar)")
            }
        }

        batchNormEvalForward(out: y1.p, inp: x.c, gamma: gamma.c, beta: beta.c, runningMean: rm1.c, runningVar: rv1.c, n: n, c: c, hw: hw)
        reluForward(out: y1.p, inp: y1.c, count: count)
        batchNormReluEvalForward(out: y2.p, inp: x.c, gamma: gamma.c, beta: beta.c, runningMean: rm1.c, runningVar: rv1.c, n: n, c: c, hw: hw)
        #expect(relativeError(y2.array, y1.array) < 1e-5)
    }
}

extension FusedBatchNormTests {
    /// Leaving the conv bias out of the input and handing it to the fused kernels gives the
    /// same outputs and running statistics as adding it first.
    @Test func inputBiasFoldsLikeAddingItFirst() {
        let n = 2, c = 2, hw = 9
        let x = Buf(random: n * c * hw, seed: 72), bias = Buf([0.7, -1.3])
        let withBias = Buf(x.count)
        for b in 0..<n { for ch in 0..<c { for i in 0..<hw { withBias.p[(b * c + ch) * hw + i] = x.p[(b * c + ch) * hw + i] + bias.p[ch] } } }
        let gamma = Buf([1.1, 0.8]), beta = Buf([0.2, -0.1])
        let rm1 = Buf(c), rv1 = Buf(c, fill: 1), rm2 = Buf(c), rv2 = Buf(c, fill: 1)
        let mean1 = Buf(c), rstd1 = Buf(c), mean2 = Buf(c), rstd2 = Buf(c), y1 = Buf(x.count), y2 = Buf(x.count)
        batchNormReluTrainForward(out: y1.p, inp: withBias.c, gamma: gamma.c, beta: beta.c, runningMean: rm1.p, runningVar: rv1.p,
                                  mean: mean1.p, rstd: rstd1.p, n: n, c: c, hw: hw)
        batchNormReluTrainForward(out: y2.p, inp: x.c, gamma: gamma.c, beta: beta.c, runningMean: rm2.p, runningVar: rv2.p,
                                  mean: mean2.p, rstd: rstd2.p, n: n, c: c, hw: hw, inputBias: bias.c)
        #expect(relativeError(y2.array, y1.array) < 1e-5)
        #expect(relativeError(rm2.array, rm1.array) < 1e-6 && relativeError(rv2.array, rv1.array) < 1e-5)
        #expect(abs(rm1.p[0] - 0.1 * mean1.p[0]) < 1e-6 && abs(mean2.p[0] + 0.7 - mean1.p[0]) < 1e-5)
        batchNormReluEvalForward(out: y1.p, inp: withBias.c, gamma: gamma.c, beta: beta.c, runningMean: rm1.c, runningVar: rv1.c, n: n, c: c, hw: hw)
        batchNormReluEvalForward(out: y2.p, inp: x.c, gamma: gamma.c, beta: beta.c, runningMean: rm1.c, runningVar: rv1.c, n: n, c: c, hw: hw, inputBias: bias.c)
        #expect(relativeError(y2.array, y1.array) < 1e-5)
    }
}
