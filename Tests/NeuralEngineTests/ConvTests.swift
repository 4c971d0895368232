import Testing
@testable import NeuralEngine

/// Convolution and transposed convolution: optimised (im2col/GEMM) against the naive direct
/// loops, and both against finite differences. The ops are linear in each argument, so central
/// differences are exact up to Float rounding: with eps 1e-2 and |L| ~ 10 the error is ~1e-4
/// relative, hence the 2e-3 tolerance.
@Suite struct ConvTests {
    /// (K, rows per im2col chunk): chunks of 1 and 2 rows on H = 5 leave an uneven last chunk.
    @Test(arguments: [(3, nil), (3, 1), (3, 2), (1, nil)] as [(Int, Int?)])
    func convOptimisedMatchesNaive(k: Int, rowsPerChunk: Int?) {
        let n = 2, ci = 3, co = 4, h = 5, w = 6
        let x = Buf(random: n * ci * h * w, seed: 1), wt = Buf(random: co * ci * k * k, seed: 2), b = Buf(random: co, seed: 3)
        let col = Buf(max(conv2dColumnCount(ci: ci, co: co, h: h, w: w, k: k, rowsPerChunk: rowsPerChunk), 1)), flipped = Buf(ci * co * k * k)
        let y1 = Buf(n * co * h * w), y2 = Buf(n * co * h * w)
        conv2dForward(out: y1.p, inp: x.c, weight: wt.c, bias: b.c, n: n, ci: ci, co: co, h: h, w: w, k: k, col: col.p, rowsPerChunk: rowsPerChunk)
        conv2dForwardNaive(out: y2.p, inp: x.c, weight: wt.c, bias: b.c, n: n, ci: ci, co: co, h: h, w: w, k: k)
        #expect(relativeError(y1.array, y2.array) < 1e-5)

        let dy = Buf(random: n * co * h * w, seed: 4)
        let dx1 = Buf(n * ci * h * w), dw1 = Buf(co * ci * k * k, fill: 0.5), db1 = Buf(co, fill: 0.5)
        let dx2 = Buf(n * ci * h * w), dw2 = Buf(co * ci * k * k, fill: 0.5), db2 = Buf(co, fill: 0.5)
        conv2dBackward(dinp: dx1.p, dweight: dw1.p, dbias: db1.p, dout: dy.c, inp: x.c, weight: wt.c,
                       n: n, ci: ci, co: co, h: h, w: w, k: k, col: col.p, flipped: flipped.p, partials: flipped.p, rowsPerChunk: rowsPerChunk)
        conv2dBackwardNaive(dinp: dx2.p, dweight: dw2.p, dbias: db2.p, dout: dy.c, inp: x.c, weight: wt.c,
                            n: n, ci: ci, co: co, h: h, w: w, k: k)
        #expect(relativeError(dx1.array, dx2.array) < 1e-5)
        #expect(relativeError(dw1.array, dw2.array) < 1e-5)  // both accumulated onto 0.5
        #expect(relativeError(db1.array, db2.array) < 1e-5)
    }

    @Test func chunkedColumnScratchIsBounded() {
        // 32 -> 64 channels at 256 x 256: 4 rows (1024 pixels), not 9 x the image.
        #expect(im2colChunkRows(ckk: 64 * 9, h: 256, w: 256) == 4)
        #expect(conv2dColumnCount(ci: 32, co: 64, h: 256, w: 256, k: 3) == 64 * 9 * 1024)
        // 16 channels: the budget gives 3 rows, the pixel minimum 4; 1 channel: the budget, 56 rows.
        #expect(im2colChunkRows(ckk: 16 * 9, h: 256, w: 256) == 4)
        #expect(im2colChunkRows(ckk: 9, h: 256, w: 256) == 56)
        // Deep levels: the whole 16 x 16 image in one GEMM.
        #expect(im2colChunkRows(ckk: 512 * 9, h: 16, w: 16) == 16)
        #expect(conv2dColumnCount(ci: 3, co: 4, h: 5, w: 6, k: 3, rowsPerChunk: 2) == 4 * 9 * 6 * 2)
    }

    @Test func convKnownValues() {
        // 1 image, 1 channel 3x3, all-ones 3x3 kernel, bias 0.5: each output is 0.5 + the sum of
        // its in-bounds neighbourhood (padding is zero).
        let x = Buf([1, 2, 3, 4, 5, 6, 7, 8, 9]), wt = Buf(9, fill: 1), b = Buf([0.5])
        let y = Buf(9), col = Buf(81)
        conv2dForward(out: y.p, inp: x.c, weight: wt.c, bias: b.c, n: 1, ci: 1, co: 1, h: 3, w: 3, k: 3, col: col.p)
        #expect(y.array == [12.5, 21.5, 16.5, 27.5, 45.5, 33.5, 24.5, 39.5, 28.5])
    }

    @Test(arguments: [3, 1])
    func convGradientsMatchFiniteDifferences(k: Int) {
        let n = 2, ci = 2, co = 3, h = 4, w = 3
        let x = Buf(random: n * ci * h * w, seed: 5), wt = Buf(random: co * ci * k * k, seed: 6), b = Buf(random: co, seed: 7)
        let r = Buf(random: n * co * h * w, seed: 8), y = Buf(n * co * h * w)
        let col = Buf(max(conv2dColumnCount(ci: ci, co: co, h: h, w: w, k: k), 1)), flipped = Buf(ci * co * k * k)
        func loss() -> Double {
            conv2dForward(out: y.p, inp: x.c, weight: wt.c, bias: b.c, n: n, ci: ci, co: co, h: h, w: w, k: k, col: col.p)
            return dot(y.c, r.c, y.count)
        }
        let dx = Buf(x.count), dw = Buf(wt.count), db = Buf(co)
        conv2dBackward(dinp: dx.p, dweight: dw.p, dbias: db.p, dout: r.c, inp: x.c, weight: wt.c,
                       n: n, ci: ci, co: co, h: h, w: w, k: k, col: col.p, flipped: flipped.p, partials: flipped.p)
        for (values, grad) in [(x, dx), (wt, dw), (b, db)] {
            let idx = sampleIndices(values.count)
            let num = numericalGradient(values.p, indices: idx, eps: 1e-2, loss: loss)
            #expect(relativeError(num, idx.map { Double(grad.p[$0]) }) < 2e-3)
        }
    }

    @Test func upConvOptimisedMatchesNaiveAndFiniteDifferences() {
        let n = 2, ci = 3, co = 2, h = 2, w = 3
        let x = Buf(random: n * ci * h * w, seed: 9), wt = Buf(random: ci * co * 4, seed: 10), b = Buf(random: co, seed: 11)
        let col = Buf(co * 4 * h * w)
        let y1 = Buf(n * co * 4 * h * w), y2 = Buf(n * co * 4 * h * w)
        upConvForward(out: y1.p, inp: x.c, weight: wt.c, bias: b.c, n: n, ci: ci, co: co, h: h, w: w, col: col.p)
        upConvForwardNaive(out: y2.p, inp: x.c, weight: wt.c, bias: b.c, n: n, ci: ci, co: co, h: h, w: w)
        #expect(relativeError(y1.array, y2.array) < 1e-5)

        let r = Buf(random: y1.count, seed: 12)
        let dx1 = Buf(x.count), dw1 = Buf(wt.count), db1 = Buf(co)
        let dx2 = Buf(x.count), dw2 = Buf(wt.count), db2 = Buf(co)
        upConvBackward(dinp: dx1.p, dweight: dw1.p, dbias: db1.p, dout: r.c, inp: x.c, weight: wt.c,
                       n: n, ci: ci, co: co, h: h, w: w, col: col.p, partials: col.p)
        upConvBackwardNaive(dinp: dx2.p, dweight: dw2.p, dbias: db2.p, dout: r.c, inp: x.c, weight: wt.c,
                            n: n, ci: ci, co: co, h: h, w: w)
        #expect(relativeError(dx1.array, dx2.array) < 1e-5)
        #expect(relativeError(dw1.array, dw2.array) < 1e-5)
        #expect(relativeError(db1.array, db2.array) < 1e-5)

        func loss() -> Double {
            upConvForward(out: y1.p, inp: x.c, weight: wt.c, bias: b.c, n: n, ci: ci, co: co, h: h, w: w, col: col.p)
            return dot(y1.c, r.c, y1.count)
        }
        for (values, grad) in [(x, dx1), (wt, dw1), (b, db1)] {
            let idx = sampleIndices(values.count)
            let num = numericalGradient(values.p, indices: idx, eps: 1e-2, loss: loss)
            #expect(relativeError(num, idx.map { Double(grad.p[$0]) }) < 2e-3)
        }
    }

    @Test func upConvPlacesEachTapAtItsOffset() {
        // One input pixel of value 2, weight taps 1,2,3,4 at (a, b) = (0,0),(0,1),(1,0),(1,1), bias 1.
        let x = Buf([2]), wt = Buf([1, 2, 3, 4]), b = Buf([1]), y = Buf(4), col = Buf(4)
        upConvForward(out: y.p, inp: x.c, weight: wt.c, bias: b.c, n: 1, ci: 1, co: 1, h: 1, w: 1, col: col.p)
        #expect(y.array == [3, 5, 7, 9])
    }
}
