import Testing
@testable import NeuralEngine

/// The max-pool C kernels (vector and scalar, with and without the argmax) against the
/// direct-loop reference.
@Suite struct PoolEvalTests {
    /// Widths below, at and above the 32 input columns of one vector step, not multiples of 32;
    /// NaNs in some windows (NaN wins in both).
    @Test(arguments: [(1, 1, 2, 2), (2, 3, 4, 6), (1, 2, 6, 34), (3, 1, 2, 66), (2, 5, 8, 64), (1, 4, 10, 98)]
          as [(Int, Int, Int, Int)])
    func kernelsMatchNaive(n: Int, c: Int, h: Int, w: Int) {
        let x = Buf(random: n * c * h * w, seed: 81)
        for i in stride(from: 5, to: x.count, by: 37) { x.p[i] = .nan }
        let want = Buf(n * c * h * w / 4)
        var argmax = [Int32](repeating: 0, count: want.count)
        argmax.withUnsafeMutableBufferPointer { maxPoolForwardNaive(out: want.p, argmax: $0.baseAddress!, inp: x.c, n: n, c: c, h: h, w: w) }
        for scalar in [false, true] {
            let got = Buf(want.count, fill: 7)
            var gotArgmax = [Int32](repeating: -1, count: want.count)
            gotArgmax.withUnsafeMutableBufferPointer {
                maxPoolForward(out: got.p, argmax: $0.baseAddress!, inp: x.c, n: n, c: c, h: h, w: w, workers: 2, scalar: scalar)
            }
            #expect(gotArgmax == argmax, "argmax differs, \(n)x\(c)x\(h)x\(w) scalar \(scalar)")
            #expect(zip(got.array, want.array).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) })
        }
        // Ties: equal values in a window go to the first in window order.
        let ties = Buf(n * c * h * w, fill: 0.5)
        for scalar in [false, true] {
            let got = Buf(want.count)
            var gotArgmax = [Int32](repeating: -1, count: want.count)
            gotArgmax.withUnsafeMutableBufferPointer {
                maxPoolForward(out: got.p, argmax: $0.baseAddress!, inp: ties.c, n: n, c: c, h: h, w: w, scalar: scalar)
            }
            #expect(gotArgmax.enumerated().allSatisfy { i, a in Int(a) == 2 * ((i % (h * w / 4)) / (w / 2)) * w + 2 * (i % (w / 2)) })
        }
        for scalar in [false, true] {
            let got = Buf(want.count, fill: 7)
            maxPoolEvalForward(out: got.p, inp: x.c, n: n, c: c, h: h, w: w, workers: 2, scalar: scalar)
            var bad = 0
            for i in 0..<got.count where !(got.p[i] == want.p[i] || (got.p[i].isNaN && want.p[i].isNaN)) { bad += 1 }
            #expect(bad == 0, "\(bad) of \(got.count) differ, \(n)x\(c)x\(h)x\(w) scalar \(scalar)")
        }
        #expect(want.array.contains { $0.isNaN } || want.count < 3, "some windows should hold a NaN")
    }
}
