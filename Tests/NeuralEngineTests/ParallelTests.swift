import Testing
@testable import NeuralEngine

/// The engine's own workers: every split kernel against its one-worker or naive result.
@Suite struct ParallelTests {
    @Test func upConvChunking() {
        #expect(upConvChunks(n: 8, h: 16, workers: 2) == (16, 1))
        #expect(upConvChunks(n: 1, h: 16, workers: 2) == (8, 2))
        #expect(upConvChunks(n: 1, h: 5, workers: 3) == (2, 3))
        #expect(upConvChunks(n: 1, h: 1, workers: 4) == (1, 1))
    }

    @Test func parallelForVisitsEachItemOnceOnItsWorker() {
        var seen = [Int](repeating: 0, count: 10)
        var owner = [Int](repeating: -1, count: 10)
        seen.withUnsafeMutableBufferPointer { s in
            owner.withUnsafeMutableBufferPointer { o in
                parallelFor(10, workers: 3) { item, worker in
                    s[item] += 1
                    o[item] = worker
                }
            }
        }
        #expect(seen == Array(repeating: 1, count: 10))
        #expect(owner == (0..<10).map { $0 % 3 })
    }

    @Test(arguments: [3, 1])
    func convWithWorkersMatchesNaive(k: Int) {
        let n = 2, ci = 3, co = 4, h = 5, w = 6, workers = 3, rows = 2
        let x = Buf(random: n * ci * h * w, seed: 81), wt = Buf(random: co * ci * k * k, seed: 82), b = Buf(random: co, seed: 83)
        let col = Buf(workers * max(conv2dColumnCount(ci: ci, co: co, h: h, w: w, k: k, rowsPerChunk: rows), 1))
        let partials = Buf(workers * conv2dPartialCount(ci: ci, co: co, k: k)), flipped = Buf(ci * co * k * k)
        let y1 = Buf(n * co * h * w), y2 = Buf(n * co * h * w)
        conv2dForward(out: y1.p, inp: x.c, weight: wt.c, bias: b.c, n: n, ci: ci, co: co, h: h, w: w, k: k, col: col.p,
                      workers: workers, rowsPerChunk: rows)
        conv2dForwardNaive(out: y2.p, inp: x.c, weight: wt.c, bias: b.c, n: n, ci: ci, co: co, h: h, w: w, k: k)
        #expect(relativeError(y1.array, y2.array) < 1e-5)
        let dy = Buf(random: y1.count, seed: 84)
        let dx1 = Buf(x.count), dw1 = Buf(wt.count, fill: 0.5), db1 = Buf(co, fill: 0.5)
        let dx2 = Buf(x.count), dw2 = Buf(wt.count, fill: 0.5), db2 = Buf(co, fill: 0.5)
        conv2dBackward(dinp: dx1.p, dweight: dw1.p, dbias: db1.p, dout: dy.c, inp: x.c, weight: wt.c, n: n, ci: ci, co: co,
                       h: h, w: w, k: k, col: col.p, flipped: flipped.p, partials: partials.p, workers: workers, rowsPerChunk: rows)
        conv2dBackwardNaive(dinp: dx2.p, dweight: dw2.p, dbias: db2.p, dout: dy.c, inp: x.c, weight: wt.c, n: n, ci: ci, co: co, h: h, w: w, k: k)
        #expect(relativeError(dx1.array, dx2.array) < 1e-5)
        #expect(relativeError(dw1.array, dw2.array) < 1e-5)
        #expect(relativeError(db1.array, db2.array) < 1e-5)
    }

    /// n = 3 with 2 workers: whole images; n = 1 with 3 workers: row chunks of 2, 2 and 1 rows.
    @Test(arguments: [(3, 2, 2), (1, 5, 3)])
    func upConvAndPoolWithWorkersMatchOneWorker(n: Int, h: Int, workers: Int) {
        let ci = 4, co = 2, w = 2
        let x = Buf(random: n * ci * h * w, seed: 85), wt = Buf(random: ci * co * 4, seed: 86), b = Buf(random: co, seed: 87)
        let col = Buf(workers * co * 4 * h * w), partials = Buf(workers * (ci * co * 4 + co))
        let y1 = Buf(n * co * 4 * h * w), y2 = Buf(y1.count)
        upConvForward(out: y1.p, inp: x.c, weight: wt.c, bias: b.c, n: n, ci: ci, co: co, h: h, w: w, col: col.p, workers: workers)
        upConvForwardNaive(out: y2.p, inp: x.c, weight: wt.c, bias: b.c, n: n, ci: ci, co: co, h: h, w: w)
        #expect(relativeError(y1.array, y2.array) < 1e-5)
        let dy = Buf(random: y1.count, seed: 88)
        let dx1 = Buf(x.count), dw1 = Buf(wt.count), db1 = Buf(co), dx2 = Buf(x.count), dw2 = Buf(wt.count), db2 = Buf(co)
        upConvBackward(dinp: dx1.p, dweight: dw1.p, dbias: db1.p, dout: dy.c, inp: x.c, weight: wt.c, n: n, ci: ci, co: co,
                       h: h, w: w, col: col.p, partials: partials.p, workers: workers)
        upConvBackwardNaive(dinp: dx2.p, dweight: dw2.p, dbias: db2.p, dout: dy.c, inp: x.c, weight: wt.c, n: n, ci: ci, co: co, h: h, w: w)
        #expect(relativeError(dx1.array, dx2.array) < 1e-5)
        #expect(relativeError(dw1.array, dw2.array) < 1e-5 && relativeError(db1.array, db2.array) < 1e-5)

        // Max-pool over planes: 3 workers give the same values and argmax as one.
        guard h % 2 == 0 else { return }
        let p1 = Buf(n * ci * h * w / 4), p2 = Buf(n * ci * h * w / 4)
        var a1 = [Int32](repeating: 0, count: p1.count), a2 = a1
        a1.withUnsafeMutableBufferPointer { maxPoolForward(out: p1.p, argmax: $0.baseAddress!, inp: x.c, n: n, c: ci, h: h, w: w, workers: 3) }
        a2.withUnsafeMutableBufferPointer { maxPoolForward(out: p2.p, argmax: $0.baseAddress!, inp: x.c, n: n, c: ci, h: h, w: w) }
        #expect(p1.array == p2.array && a1 == a2)
    }

    @Test func unetWithThreeWorkersMatchesOne() {
        let config = UNetConfig(inChannels: 1, classes: 3, baseWidth: 2, depth: 2)
        let (input, target) = syntheticBatch(n: 3, size: 8, seed: 9)
        let info = [ImageLabelInfo](repeating: ImageLabelInfo(), count: 3)
        func run(_ workers: Int) -> (logits: [Float], grads: [Float], evalLogits: [Float]) {
            let net = UNet(config: config, seed: 4)
            net.threadCount = workers
            input.withUnsafeBufferPointer { net.forward($0, batch: 3, height: 8, width: 8) }
            _ = target.withUnsafeBufferPointer { net.loss(target: $0, info: info, using: CrossEntropyLoss()) }
            net.arena.zeroGradients()
            net.backward()
            let logits = net.withLogits { Array($0) }
            let grads = net.arena.withGradients { Array($0) }
            net.mode = .eval
            input.withUnsafeBufferPointer { net.forward($0, batch: 3, height: 8, width: 8) }
            return (logits, grads, net.withLogits { Array($0) })
        }
        let one = run(1), three = run(3)
        #expect(one.logits == three.logits)  // each output is computed by one worker, same operations
        #expect(one.evalLogits == three.evalLogits)
        #expect(relativeError(three.grads, one.grads) < 1e-5)  // partial sums add in another order
    }
}

/// The SIMD reductions against Double loops, on a length with a tail and several flushes.
@Suite struct ReductionTests {
    @Test func reductionsMatchDoubleLoops() {
        let count = 8 * 256 + 13
        let x = Buf(random: count, seed: 90, scale: 3), y = Buf(random: count, seed: 91), dy = Buf(random: count, seed: 92)
        for i in 0..<count { x.p[i] += 50 }
        var sum = 0.0, sq = 0.0, g = 0.0, gx = 0.0
        for i in 0..<count {
            sum += Double(x.p[i])
            sq += (Double(x.p[i]) - 49) * (Double(x.p[i]) - 49)
            if y.p[i] > 0 {
                g += Double(dy.p[i])
                gx += Double(dy.p[i]) * (Double(x.p[i]) - 50)
            }
        }
        #expect(abs(reduceSum(x.c, count) - sum) < 1e-6 * abs(sum))
        let (s, q) = reduceShiftedSums(x.c, count, shift: 49)
        #expect(abs(s - (sum - 49 * Double(count))) < 1e-3 && abs(q - sq) < 1e-5 * sq)
        let (mg, mgx) = reduceMaskedSums(dy: dy.c, y: y.c, x: x.c, count, mu: 50)
        #expect(abs(mg - g) < 1e-4 && abs(mgx - gx) < 1e-3)
    }
}
