import Testing
@testable import NeuralEngine

/// The packed-weight 3x3 kernel (Sources/CKernels/conv3x3_packed.c: 16 output channels x 16
/// pixels tiles, weights packed per block of 16 channels, eval batch norm folded into them)
/// against the naive Double-accumulating reference, with the bounds of `Conv3x3DirectTests`.
@Suite struct Conv3x3PackedTests {
    /// (n, ci, co, h, w): rows of exactly 16, of 17 to 50 pixels (the last tile overlaps the one
    /// before it), a multiple of 16 with interior tiles; channel counts below, at, above and
    /// between multiples of 16; 1-channel input; batch > 1; rows < 16 (the scalar fallback),
    /// 1x1 and 1-row images; rows of exactly 8 (the AVX2 kernel's one tile).
    static let shapes: [(Int, Int, Int, Int, Int)] = [
        (2, 3, 5, 5, 16), (3, 1, 16, 7, 33), (1, 17, 33, 9, 47), (2, 16, 16, 16, 16),
        (1, 40, 24, 9, 48), (2, 2, 3, 31, 50), (2, 20, 17, 3, 17), (1, 5, 11, 2, 15), (2, 17, 9, 1, 1),
        (1, 9, 40, 1, 64), (2, 7, 13, 5, 8),
    ]

    static func check(_ index: Int, bias withBias: Bool, scalar: Bool, workers: Int, avx2: Bool = false) {
        let (n, ci, co, h, w) = shapes[index]
        let x = Buf(random: n * ci * h * w, seed: 51), wt = Buf(random: co * ci * 9, seed: 52), b = Buf(random: co, seed: 53)
        let packed = Buf(conv3x3PackedCount(ci: ci, co: co), fill: .nan), fast = Buf(n * co * h * w, fill: .nan)
        conv3x3ForwardDirect(out: fast.p, inp: x.c, weight: wt.c, bias: withBias ? b.c : nil,
                             n: n, ci: ci, co: co, h: h, w: w, workers: workers, scalar: scalar, packed: packed.p,
                             avx2: avx2)
        let bad = conv3x3OutputsOffBound(fast, input: x, weight: wt, bias: withBias ? b : nil, n: n, ci: ci, co: co, h: h, w: w)
        #expect(bad == 0, "\(bad) of \(fast.count) outputs off, shape \(index) bias \(withBias) scalar \(scalar) workers \(workers) avx2 \(avx2)")
    }

    /// The AVX2 + FMA kernel (8 channels x 8 pixels tiles; rows < 8 take the scalar twin).
    @Test(arguments: shapes.indices)
    func avx2KernelMatchesNaive(index: Int) {
        Self.check(index, bias: true, scalar: false, workers: 1, avx2: true)
        Self.check(index, bias: false, scalar: false, workers: 2, avx2: true)
    }

    /// The AVX2 kernel with transposed, rotated packed weights (the input gradient's kernel)
    /// against the naive convolution with the flipped weights, same bound.
    @Test(arguments: [0, 2, 4, 6, 7, 10])
    func avx2TransposedMatchesNaive(index: Int) {
        let (n, ci, co, h, w) = Self.shapes[index]
        // weight (ci, co, 3, 3) used as w'[o][c][t] = weight[c][o][8 - t]
        let x = Buf(random: n * ci * h * w, seed: 55), wt = Buf(random: ci * co * 9, seed: 56)
        var flippedValues = [Float](repeating: 0, count: co * ci * 9)
        for o in 0..<co { for c in 0..<ci { for t in 0..<9 { flippedValues[(o * ci + c) * 9 + t] = wt.p[(c * co + o) * 9 + 8 - t] } } }
        let flipped = Buf(flippedValues), packed = Buf(conv3x3PackedCount(ci: ci, co: co), fill: .nan)
        let fast = Buf(n * co * h * w, fill: .nan)
        conv3x3ForwardDirect(out: fast.p, inp: x.c, weight: wt.c, bias: nil, n: n, ci: ci, co: co, h: h, w: w,
                             workers: 2, packed: packed.p, transposedWeight: true, avx2: true)
        let bad = conv3x3OutputsOffBound(fast, input: x, weight: flipped, bias: nil, n: n, ci: ci, co: co, h: h, w: w)
        #expect(bad == 0, "\(bad) of \(fast.count) outputs off, shape \(index)")
    }

    @Test(arguments: shapes.indices)
    func vectorKernelMatchesNaive(index: Int) {
        Self.check(index, bias: true, scalar: false, workers: 1)
        Self.check(index, bias: false, scalar: false, workers: 2)
    }

    @Test(arguments: shapes.indices)
    func scalarTwinMatchesNaive(index: Int) {
        Self.check(index, bias: true, scalar: true, workers: 2)
    }

    /// Work items write disjoint rows (overlapping tiles within a row write equal values):
    /// any worker count gives bit-identical output.
    @Test func workersGiveIdenticalOutput() {
        let n = 3, ci = 6, co = 21, h = 70, w = 45
        let x = Buf(random: n * ci * h * w, seed: 61), wt = Buf(random: co * ci * 9, seed: 62), b = Buf(random: co, seed: 63)
        let packed = Buf(conv3x3PackedCount(ci: ci, co: co))
        let one = Buf(n * co * h * w), two = Buf(n * co * h * w)
        conv3x3ForwardDirect(out: one.p, inp: x.c, weight: wt.c, bias: b.c, n: n, ci: ci, co: co, h: h, w: w,
                             workers: 1, packed: packed.p)
        conv3x3ForwardDirect(out: two.p, inp: x.c, weight: wt.c, bias: b.c, n: n, ci: ci, co: co, h: h, w: w,
                             workers: 2, packed: packed.p)
        #expect(one.array == two.array)
    }

    /// Eval BN + ReLU folded into the packed weights (weight * scale) and bias (shift), against
    /// the exact convolution followed by `batchNormReluEvalForward`. Bound: the summation bound
    /// 2 (K + 2) u over |scale| * S + |shift| (the shift is the first summand; K + 2 covers the
    /// rounding of weight * scale), plus 8u * (|exact conv * scale| + |shift|) for the affine step
    /// of the reference.
    /// (shape, kernel): 0 = dispatched, 1 = scalar twin, 2 = AVX2 kernel.
    @Test(arguments: [(0, 0), (1, 1), (2, 0), (4, 1), (5, 0), (6, 1), (7, 0),
                      (0, 2), (1, 2), (2, 2), (4, 2), (5, 2), (7, 2), (10, 2)] as [(Int, Int)])
    func foldedBatchNormReluMatches(index: Int, kernel: Int) {
        let scalar = kernel == 1
        let (n, ci, co, h, w) = Self.shapes[index]
        let x = Buf(random: n * ci * h * w, seed: 71), wt = Buf(random: co * ci * 9, seed: 72)
        let gamma = Buf(random: co, seed: 73), beta = Buf(random: co, seed: 74), mean = Buf(random: co, seed: 75)
        let bias = Buf(random: co, seed: 76), variance = Buf(Buf(random: co, seed: 77).array.map { Swift.abs($0) + 0.1 })
        let zero = Buf(co), exact = Buf(n * co * h * w), abs = Buf(n * co * h * w), ref = Buf(n * co * h * w)
        let fused = Buf(n * co * h * w, fill: .nan), packed = Buf(conv3x3PackedCount(ci: ci, co: co), fill: .nan)
        conv2dForwardNaive(out: exact.p, inp: x.c, weight: wt.c, bias: zero.c, n: n, ci: ci, co: co, h: h, w: w, k: 3)
        let ax = Buf(x.array.map { Swift.abs($0) }), aw = Buf(wt.array.map { Swift.abs($0) })
        conv2dForwardNaive(out: abs.p, inp: ax.c, weight: aw.c, bias: zero.c, n: n, ci: ci, co: co, h: h, w: w, k: 3)
        batchNormReluEvalForward(out: ref.p, inp: exact.c, gamma: gamma.c, beta: beta.c, runningMean: mean.c,
                                 runningVar: variance.c, n: n, c: co, hw: h * w, inputBias: bias.c)
        conv3x3BatchNormReluEvalDirect(out: fused.p, inp: x.c, weight: wt.c, gamma: gamma.c, beta: beta.c,
                                       runningMean: mean.c, runningVar: variance.c, bias: bias.c,
                                       n: n, ci: ci, co: co, h: h, w: w, workers: 2, scalar: scalar, packed: packed.p,
                                       avx2: kernel == 2)
        let k = Float(9 * ci), u = Float(1) / Float(1 << 24)
        var bad = 0, positive = 0
        for i in 0..<fused.count {
            let o = (i / (h * w)) % co
            let scale = gamma.p[o] / (variance.p[o] + BatchNormConstants.eps).squareRoot()
            let shift = beta.p[o] + (bias.p[o] - mean.p[o]) * scale
            let bound = 2 * (k + 2) * u * (Swift.abs(scale) * abs.p[i] + Swift.abs(shift))
                + 8 * u * (Swift.abs(exact.p[i] * scale) + Swift.abs(shift)) + 1e-30
            if !(Swift.abs(fused.p[i] - ref.p[i]) <= bound) { bad += 1 }
            if ref.p[i] > 0 { positive += 1 }
        }
        #expect(bad == 0, "\(bad) of \(fused.count) outputs off, shape \(index) kernel \(kernel)")
        #expect(positive > 0 && positive < fused.count, "the ReLU should both pass and clip some outputs")
    }

    /// The packing itself: block layout, zero channels past co, bias, transposed + rotated.
    @Test func packLayout() {
        let ci = 2, co = 17
        let wt = Buf((0..<(co * ci * 9)).map { Float($0) }), b = Buf((0..<co).map { Float(1000 + $0) })
        let packed = Buf(conv3x3PackedCount(ci: ci, co: co), fill: .nan)
        #expect(packed.count == 2 * 16 * (ci * 9 + 1))
        conv3x3Pack(packed.p, weight: wt.c, bias: b.c, bn: nil, ci: ci, co: co, transposed: false, workers: 2)
        // block 1, input channel 1, tap 4, lane 0 = output channel 16
        #expect(packed.p[((1 * ci + 1) * 9 + 4) * 16 + 0] == wt.p[(16 * ci + 1) * 9 + 4])
        #expect(packed.p[((1 * ci + 1) * 9 + 4) * 16 + 1] == 0)  // channel 17: padding
        #expect(packed.p[((0 * ci + 0) * 9 + 2) * 16 + 5] == wt.p[(5 * ci + 0) * 9 + 2])
        let biasAt = 2 * ci * 144
        #expect(packed.p[biasAt + 16] == 1016 && packed.p[biasAt + 17] == 0 && packed.p[biasAt + 3] == 1003)
        // transposed: weight (ci' = 17, co' = 2) seen as (co = 2) outputs of (ci = 17) inputs
        let t = Buf(conv3x3PackedCount(ci: co, co: ci), fill: .nan)
        conv3x3Pack(t.p, weight: wt.c, bias: nil, bn: nil, ci: co, co: ci, transposed: true, workers: 1)
        // w'[o = 1][c = 16][tap 0] = weight[16][1][tap 8]
        #expect(t.p[((0 * co + 16) * 9 + 0) * 16 + 1] == wt.p[(16 * ci + 1) * 9 + 8])
        #expect(t.p[co * 144 + 1] == 0)
    }
}

/// The packed up-conv kernel (Sources/CKernels/upconv2x2.c) against the naive Double
/// reference `upConvForwardNaive`. Bound per element: 2 K u S, K = Ci + 1 Float terms (bias
/// included), S = sum of |terms| (the reference on |input|, |weight|, |bias|).
@Suite struct UpConvPackedTests {
    /// (n, ci, co, h, w): rows of 8 pixels and more (one or more 64-pixel chunks, a last tile
    /// overlapping the one before), rows < 8 (GEMM, or the scalar twin), channel counts around 16,
    /// 1x1 images, batch > 1 (so items are whole images) and 1 (row chunks).
    static let shapes: [(Int, Int, Int, Int, Int)] = [
        (2, 3, 5, 3, 9), (1, 5, 17, 3, 70), (3, 32, 16, 8, 8), (2, 20, 17, 5, 7), (1, 40, 33, 4, 130),
        (2, 17, 9, 1, 1), (1, 1, 1, 1, 1), (1, 64, 32, 6, 16),
    ]

    @Test(arguments: shapes.indices)
    func packedKernelMatchesNaive(index: Int) {
        let (n, ci, co, h, w) = Self.shapes[index]
        let x = Buf(random: n * ci * h * w, seed: 81), wt = Buf(random: ci * co * 4, seed: 82), b = Buf(random: co, seed: 83)
        let ref = Buf(n * co * 4 * h * w), abs = Buf(n * co * 4 * h * w)
        upConvForwardNaive(out: ref.p, inp: x.c, weight: wt.c, bias: b.c, n: n, ci: ci, co: co, h: h, w: w)
        let ax = Buf(x.array.map { Swift.abs($0) }), aw = Buf(wt.array.map { Swift.abs($0) }), ab = Buf(b.array.map { Swift.abs($0) })
        upConvForwardNaive(out: abs.p, inp: ax.c, weight: aw.c, bias: ab.c, n: n, ci: ci, co: co, h: h, w: w)
        let k = Float(ci + 1), u = Float(1) / Float(1 << 24)
        for (scalar, workers) in [(false, 1), (false, 2), (true, 2)] {
            let out = Buf(n * co * 4 * h * w, fill: .nan), packed = Buf(upConvPackedCount(ci: ci, co: co), fill: .nan)
            // rows under 8 pixels take the GEMM route, whose columns are (Co*4, H*W) per worker
            let col = Buf(workers * max(upConvPackedScratchCount(ci: ci), co * 4 * h * w), fill: .nan)
            upConvForward(out: out.p, inp: x.c, weight: wt.c, bias: b.c, n: n, ci: ci, co: co, h: h, w: w, col: col.p,
                          workers: workers, packed: packed.p, scalar: scalar)
            var bad = 0
            for i in 0..<out.count where !(Swift.abs(out.p[i] - ref.p[i]) <= 2 * k * u * abs.p[i] + 1e-30) { bad += 1 }
            #expect(bad == 0, "\(bad) of \(out.count) outputs off, shape \(index) scalar \(scalar) workers \(workers)")
        }
    }

    /// Written into the second half of a concatenation buffer (larger image stride): the first
    /// half stays untouched, the second equals the plain output bit for bit.
    @Test func writesIntoConcatenationHalf() {
        let n = 2, ci = 24, co = 16, h = 4, w = 12
        let x = Buf(random: n * ci * h * w, seed: 91), wt = Buf(random: ci * co * 4, seed: 92), b = Buf(random: co, seed: 93)
        // without AVX-512 (or SEGVOL_ENGINE_ISA=avx2) the GEMM route runs: (Co*4, H*W) columns per worker
        let packed = Buf(upConvPackedCount(ci: ci, co: co))
        let col = Buf(2 * max(upConvPackedScratchCount(ci: ci), co * 4 * h * w))
        let plain = Buf(n * co * 4 * h * w), cat = Buf(n * 2 * co * 4 * h * w, fill: -7)
        upConvForward(out: plain.p, inp: x.c, weight: wt.c, bias: b.c, n: n, ci: ci, co: co, h: h, w: w, col: col.p,
                      workers: 2, packed: packed.p)
        upConvForward(out: cat.p + co * 4 * h * w, inp: x.c, weight: wt.c, bias: b.c, n: n, ci: ci, co: co, h: h, w: w,
                      col: col.p, workers: 2, outImageStride: 2 * co * 4 * h * w, packed: packed.p)
        let image = co * 4 * h * w
        for b in 0..<n {
            #expect(Array(UnsafeBufferPointer(start: cat.p + b * 2 * image, count: image)).allSatisfy { $0 == -7 })
            #expect(Array(UnsafeBufferPointer(start: cat.p + b * 2 * image + image, count: image))
                    == Array(UnsafeBufferPointer(start: plain.p + b * image, count: image)))
        }
    }
}
