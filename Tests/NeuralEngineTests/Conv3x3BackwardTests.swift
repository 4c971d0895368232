import Testing
@testable import NeuralEngine

/// The direct 3x3 backward (weight gradient kernel in Sources/CKernels, input gradient through
/// the direct forward kernel) against an exact Double reference.
///
/// Tolerance, per element: the kernels sum K Float products in some order (K = N*H*W pixels
/// per weight-gradient element, plus the value it accumulates into; K = 9*Co per input-gradient
/// element), so |fast - exact| <= K * u * S with u = 2^-24 and S = sum of |term| (computed
/// exactly from |dout| and |input| or |weight|). The checks use 2 * K * u * S + 1e-30. For
/// the input gradient (K = 9 Co) one missing or doubled term (~ S / K) is far outside it; for
/// the weight gradient (K up to 5600 here) the bound is ~3.7 terms wide at the largest shape,
/// so what it catches there are the kernel's real failure modes: a wrong or missing border
/// column or row, tap or image (>= H or W terms), not a single pixel.
@Suite struct Conv3x3BackwardTests {
    /// (n, ci, co, h, w): row chunks of one image (h*w >= 2048), image groups, one chunk split by
    /// output channels, rows shorter than and not a multiple of 16, 1x1 and 1-row images,
    /// channel counts around the 3-channel block.
    static let shapes: [(Int, Int, Int, Int, Int)] = [
        (2, 3, 5, 70, 40), (5, 4, 7, 8, 9), (9, 2, 3, 20, 20), (2, 17, 4, 1, 1),
        (3, 1, 16, 1, 33), (2, 6, 2, 5, 17), (1, 2, 10, 47, 47), (8, 5, 40, 4, 4),
    ]

    /// Exact gradients: dweight (Co, Ci, 3, 3), dinp (N, Ci, H, W), dbias (Co), and the sums of
    /// |terms| of each (from |dout|, |inp|, |weight|).
    static func reference(dout: [Float], inp: [Float], weight: [Float], n: Int, ci: Int, co: Int, h: Int, w: Int)
        -> (dw: [Double], dx: [Double], db: [Double], dwAbs: [Double], dxAbs: [Double], dbAbs: [Double]) {
        var dw = [Double](repeating: 0, count: co * ci * 9), dwAbs = dw
        var dx = [Double](repeating: 0, count: n * ci * h * w), dxAbs = dx
        var db = [Double](repeating: 0, count: co), dbAbs = db
        for b in 0..<n {
            for o in 0..<co {
                for y in 0..<h {
                    for x in 0..<w {
                        let g = Double(dout[((b * co + o) * h + y) * w + x])
                        db[o] += g
                        dbAbs[o] += Swift.abs(g)
                        for c in 0..<ci {
                            for ky in 0..<3 {
                                let sy = y + ky - 1
                                if sy < 0 || sy >= h { continue }
                                for kx in 0..<3 {
                                    let sx = x + kx - 1
                                    if sx < 0 || sx >= w { continue }
                                    let wi = ((o * ci + c) * 3 + ky) * 3 + kx, ii = ((b * ci + c) * h + sy) * w + sx
                                    let xv = Double(inp[ii]), wv = Double(weight[wi])
                                    dw[wi] += g * xv
                                    dwAbs[wi] += Swift.abs(g * xv)
                                    dx[ii] += g * wv
                                    dxAbs[ii] += Swift.abs(g * wv)
                                }
                            }
                        }
                    }
                }
            }
        }
        return (dw, dx, db, dwAbs, dxAbs, dbAbs)
    }

    /// Elements of `fast` outside start + exact ± 2 K u (S + |start|) + 1e-30.
    static func outside(_ fast: Buf, exact: [Double], abs: [Double], start: [Float], terms: Int) -> Int {
        let u = 1.0 / Double(1 << 24), k = Double(terms + 1)
        var bad = 0
        for i in 0..<fast.count {
            let want = Double(start[i]) + exact[i]
            if !(Swift.abs(Double(fast.p[i]) - want) <= 2 * k * u * (abs[i] + Swift.abs(Double(start[i]))) + 1e-30) { bad += 1 }
        }
        return bad
    }

    static func check(_ index: Int, scalar: Bool, workers: Int, packed usePacked: Bool = false) {
        let (n, ci, co, h, w) = shapes[index]
        let x = Buf(random: n * ci * h * w, seed: 41), dy = Buf(random: n * co * h * w, seed: 42)
        let wt = Buf(random: co * ci * 9, seed: 43)
        // Gradients accumulate: start from non-zero values.
        let dw = Buf(random: co * ci * 9, seed: 44), db = Buf(random: co, seed: 45)
        let dwStart = dw.array, dbStart = db.array
        let dx = Buf(n * ci * h * w, fill: .nan)
        let flipped = Buf(ci * co * 9), partials = Buf(workers * conv3x3WeightGradPartialCount(ci: ci, co: co))
        let packed = Buf(conv3x3PackedCount(ci: co, co: ci), fill: .nan)
        let dwScratch = Buf(workers * conv3x3WeightGradScratchCount(ci: ci, w: w), fill: .nan)
        conv3x3BackwardDirect(dinp: dx.p, dweight: dw.p, dbias: db.p, dout: dy.c, inp: x.c, weight: wt.c,
                              n: n, ci: ci, co: co, h: h, w: w, flipped: flipped.p, partials: partials.p,
                              workers: workers, scalar: scalar, packed: usePacked ? packed.p : nil,
                              weightGradScratch: usePacked ? dwScratch.p : nil)
        let r = reference(dout: dy.array, inp: x.array, weight: wt.array, n: n, ci: ci, co: co, h: h, w: w)
        let label = "shape \(index) scalar \(scalar) workers \(workers) packed \(usePacked)"
        #expect(outside(dw, exact: r.dw, abs: r.dwAbs, start: dwStart, terms: n * h * w) == 0, "dweight, \(label)")
        #expect(outside(db, exact: r.db, abs: r.dbAbs, start: dbStart, terms: n * h * w) == 0, "dbias, \(label)")
        #expect(outside(dx, exact: r.dx, abs: r.dxAbs, start: [Float](repeating: 0, count: dx.count), terms: 9 * co) == 0,
                "dinput, \(label)")
    }

    @Test(arguments: shapes.indices)
    func vectorKernelsMatchExact(index: Int) {
        Self.check(index, scalar: false, workers: 1)
        Self.check(index, scalar: false, workers: 2)
    }

    /// The 16-channel kernels: the input gradient through the packed-weight kernel (weights
    /// packed transposed and rotated), the weight gradient with output channels in the lanes.
    @Test(arguments: shapes.indices)
    func packedKernelsMatchExact(index: Int) {
        Self.check(index, scalar: false, workers: 1, packed: true)
        Self.check(index, scalar: false, workers: 2, packed: true)
        Self.check(index, scalar: true, workers: 2, packed: true)
    }

    @Test(arguments: shapes.indices)
    func scalarFallbackMatchesExact(index: Int) {
        Self.check(index, scalar: true, workers: 2)
    }

    /// The split: row chunks for large images, image groups for small ones, output-channel
    /// groups (written straight into dweight) when the whole batch is one chunk.
    @Test func workSplit() {
        #expect(WeightGradSplit(n: 8, co: 16, h: 256, w: 256, workers: 2)
                == WeightGradSplit(imagesPerChunk: 1, rows: 8, chunksPerImage: 32, chunks: 256, groups: 1))
        #expect(WeightGradSplit(n: 8, co: 256, h: 32, w: 32, workers: 2)
                == WeightGradSplit(imagesPerChunk: 2, rows: 32, chunksPerImage: 1, chunks: 4, groups: 1))
        let deep = WeightGradSplit(n: 8, co: 256, h: 16, w: 16, workers: 2)
        #expect(deep == WeightGradSplit(imagesPerChunk: 8, rows: 16, chunksPerImage: 1, chunks: 1, groups: 4))
        #expect(deep.disjoint)
    }
}
