import Testing
@testable import NeuralEngine

/// The direct 3x3 kernel (Sources/CKernels) against the naive Double-accumulating reference.
///
/// Tolerance, per output element: the kernel sums K = 9*Ci + 1 Float terms (bias included) in
/// some order, so by the standard bound for recursive summation |fast - exact| <= K * u * S,
/// u = 2^-24 and S = sum of |term|; the reference is exact to ~1e-16 relative. S is computed
/// exactly by running the reference on |input|, |weight|, |bias|. The check uses 2 * K * u * S
/// (+ 1e-30), tight enough that one missing or duplicated tap (error ~ |w x| ~ S / K) fails.
@Suite struct Conv3x3DirectTests {
    /// (n, ci, co, h, w): odd sizes, rows shorter than, equal to and longer than one or two
    /// 16-lane vectors, channel counts around the 8-channel block, 1x1 and 1-row images.
    static let shapes: [(Int, Int, Int, Int, Int)] = [
        (2, 3, 4, 5, 6), (3, 1, 16, 7, 33), (2, 17, 9, 1, 1), (1, 5, 11, 2, 17),
        (2, 16, 16, 16, 16), (1, 40, 24, 9, 47), (2, 2, 3, 31, 50), (1, 8, 8, 3, 32),
    ]

    static func check(n: Int, ci: Int, co: Int, h: Int, w: Int, bias withBias: Bool, scalar: Bool, workers: Int) {
        let x = Buf(random: n * ci * h * w, seed: 11), wt = Buf(random: co * ci * 9, seed: 12), b = Buf(random: co, seed: 13)
        let fast = Buf(n * co * h * w, fill: .nan)
        conv3x3ForwardDirect(out: fast.p, inp: x.c, weight: wt.c, bias: withBias ? b.c : nil,
                             n: n, ci: ci, co: co, h: h, w: w, workers: workers, scalar: scalar)
        let bad = conv3x3OutputsOffBound(fast, input: x, weight: wt, bias: withBias ? b : nil, n: n, ci: ci, co: co, h: h, w: w)
        #expect(bad == 0, "\(bad) of \(fast.count) outputs off for n \(n) ci \(ci) co \(co) \(h)x\(w) bias \(withBias) scalar \(scalar)")
    }

    @Test(arguments: shapes.indices)
    func vectorKernelMatchesNaive(index: Int) {
        let (n, ci, co, h, w) = Self.shapes[index]
        Self.check(n: n, ci: ci, co: co, h: h, w: w, bias: true, scalar: false, workers: 1)
        Self.check(n: n, ci: ci, co: co, h: h, w: w, bias: false, scalar: false, workers: 2)
    }

    @Test(arguments: shapes.indices)
    func scalarFallbackMatchesNaive(index: Int) {
        let (n, ci, co, h, w) = Self.shapes[index]
        Self.check(n: n, ci: ci, co: co, h: h, w: w, bias: true, scalar: true, workers: 1)
    }

    /// Work items write disjoint rows: any worker count gives bit-identical output.
    @Test func workersGiveIdenticalOutput() {
        let n = 3, ci = 6, co = 10, h = 70, w = 45
        let x = Buf(random: n * ci * h * w, seed: 21), wt = Buf(random: co * ci * 9, seed: 22), b = Buf(random: co, seed: 23)
        let one = Buf(n * co * h * w), two = Buf(n * co * h * w)
        conv3x3ForwardDirect(out: one.p, inp: x.c, weight: wt.c, bias: b.c, n: n, ci: ci, co: co, h: h, w: w, workers: 1)
        conv3x3ForwardDirect(out: two.p, inp: x.c, weight: wt.c, bias: b.c, n: n, ci: ci, co: co, h: h, w: w, workers: 2)
        #expect(one.array == two.array)
    }

    /// Fused eval BN + ReLU epilogue against the exact convolution followed by
    /// `batchNormReluEvalForward`. Bound: |scale| * (the convolution bound above) for the sum,
    /// plus 8u * (|exact conv * scale| + |shift|) for the affine step in either version.
    @Test(arguments: [(0, false), (0, true), (3, false), (5, true), (6, false), (4, true)] as [(Int, Bool)])
    func fusedBatchNormReluMatches(index: Int, scalar: Bool) {
        let (n, ci, co, h, w) = Self.shapes[index]
        let x = Buf(random: n * ci * h * w, seed: 31), wt = Buf(random: co * ci * 9, seed: 32)
        let gamma = Buf(random: co, seed: 33), beta = Buf(random: co, seed: 34), mean = Buf(random: co, seed: 35)
        let bias = Buf(random: co, seed: 36), variance = Buf(Buf(random: co, seed: 37).array.map { Swift.abs($0) + 0.1 })
        let zero = Buf(co), exact = Buf(n * co * h * w), abs = Buf(n * co * h * w), ref = Buf(n * co * h * w)
        let fused = Buf(n * co * h * w, fill: .nan)
        conv2dForwardNaive(out: exact.p, inp: x.c, weight: wt.c, bias: zero.c, n: n, ci: ci, co: co, h: h, w: w, k: 3)
        let ax = Buf(x.array.map { Swift.abs($0) }), aw = Buf(wt.array.map { Swift.abs($0) })
        conv2dForwardNaive(out: abs.p, inp: ax.c, weight: aw.c, bias: zero.c, n: n, ci: ci, co: co, h: h, w: w, k: 3)
        batchNormReluEvalForward(out: ref.p, inp: exact.c, gamma: gamma.c, beta: beta.c, runningMean: mean.c,
                                 runningVar: variance.c, n: n, c: co, hw: h * w, inputBias: bias.c)
        conv3x3BatchNormReluEvalDirect(out: fused.p, inp: x.c, weight: wt.c, gamma: gamma.c, beta: beta.c,
                                       runningMean: mean.c, runningVar: variance.c, bias: bias.c,
                                       n: n, ci: ci, co: co, h: h, w: w, workers: 2, scalar: scalar)
        let k = Float(9 * ci), u = Float(1) / Float(1 << 24)
        var bad = 0, positive = 0
        for i in 0..<fused.count {
            let o = (i / (h * w)) % co
            let scale = gamma.p[o] / (variance.p[o] + BatchNormConstants.eps).squareRoot()
            let shift = beta.p[o] + (bias.p[o] - mean.p[o]) * scale
            let bound = Swift.abs(scale) * 2 * k * u * abs.p[i] + 8 * u * (Swift.abs(exact.p[i] * scale) + Swift.abs(shift)) + 1e-30
            if !(Swift.abs(fused.p[i] - ref.p[i]) <= bound) { bad += 1 }
            if ref.p[i] > 0 { positive += 1 }
        }
        #expect(bad == 0, "\(bad) of \(fused.count) outputs off, shape \(index) scalar \(scalar)")
        #expect(positive > 0 && positive < fused.count, "the ReLU should both pass and clip some outputs")
    }
}

/// How many of a 3×3 pad-1 convolution's outputs `fast` (N, Co, H, W) lie outside the float
/// summation bound around the exact result: |fast − naive| ≤ 2·K·u·Σ|terms|, K = 9·Ci + 1,
/// u = 2⁻²⁴, Σ|terms| the naive convolution of |input| with |weight| (+ |bias|).
func conv3x3OutputsOffBound(_ fast: Buf, input x: Buf, weight wt: Buf, bias b: Buf?,
                            n: Int, ci: Int, co: Int, h: Int, w: Int) -> Int {
    let zero = Buf(co), ref = Buf(n * co * h * w), abs = Buf(n * co * h * w)
    conv2dForwardNaive(out: ref.p, inp: x.c, weight: wt.c, bias: b?.c ?? zero.c, n: n, ci: ci, co: co, h: h, w: w, k: 3)
    let ax = Buf(x.array.map { Swift.abs($0) }), aw = Buf(wt.array.map { Swift.abs($0) }), ab = b.map { Buf($0.array.map { Swift.abs($0) }) }
    conv2dForwardNaive(out: abs.p, inp: ax.c, weight: aw.c, bias: ab?.c ?? zero.c, n: n, ci: ci, co: co, h: h, w: w, k: 3)
    let k = Float(9 * ci + 1), u = Float(1) / Float(1 << 24)
    var bad = 0
    for i in 0..<fast.count where !(Swift.abs(fast.p[i] - ref.p[i]) <= 2 * k * u * abs.p[i] + 1e-30) { bad += 1 }
    return bad
}
