// Convolution with stride 1 and "same" padding (K odd, pad = K / 2), with bias: the 3x3 (pad 1)
// and 1x1 convolutions of the U-Net. Gradients of weight and bias ACCUMULATE (+=) so a caller
// zeroes them once per step; the input gradient is OVERWRITTEN.
//
// K > 1 runs as im2col + GEMM over chunks of whole rows, sized so one chunk's column matrix
// (Ci*K*K, rows*W) stays in the L2 cache between the copy and the GEMM that reads it.

/// Target size of one chunk's column matrix, in floats (512 KiB).
let im2colChunkFloats = 128 * 1024

/// Fewest pixels per chunk: below this the GEMM re-packs the weights too often per pixel
/// (deep levels have large weights and few pixels).
let im2colChunkMinPixels = 1024

/// Rows per im2col chunk for Ci*K*K column rows of width W: the cache budget, but at least
/// `im2colChunkMinPixels` pixels (or the whole image).
func im2colChunkRows(ckk: Int, h: Int, w: Int) -> Int {
    let budget = im2colChunkFloats / max(ckk * w, 1)
    let minimum = (im2colChunkMinPixels + w - 1) / max(w, 1)
    return max(1, min(h, max(budget, minimum)))
}

/// Floats of im2col scratch a K x K convolution (Ci -> Co channels, H x W) needs, forward and
/// backward (the backward's input gradient is a convolution of the Co-channel output gradient).
func conv2dColumnCount(ci: Int, co: Int, h: Int, w: Int, k: Int, rowsPerChunk: Int? = nil) -> Int {
    guard k > 1 else { return 0 }
    return [ci * k * k, co * k * k].map { ckk in ckk * w * min(h, rowsPerChunk ?? im2colChunkRows(ckk: ckk, h: h, w: w)) }.max()!
}

/// Forward. out: (N, Co, H, W); inp: (N, Ci, H, W); weight: (Co, Ci, K, K); bias: (Co), or nil;
/// col: `conv2dColumnCount` scratch, unused when K == 1; rowsPerChunk: override for tests.
func conv2dForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    n: Int, ci: Int, co: Int, h: Int, w: Int, k: Int, col: UnsafeMutablePointer<Float>, rowsPerChunk: Int? = nil
) {
    let hw = h * w
    let ckk = ci * k * k
    let rows = rowsPerChunk ?? im2colChunkRows(ckk: ckk, h: h, w: w)
    for b in 0..<n {
        let inpB = inp + b * ci * hw
        let outB = out + b * co * hw
        if k == 1 {
            // out_b (Co, HW) = weight (Co, Ci) x inp_b (Ci, HW)
            sgemm(transA: false, transB: false, m: co, n: hw, k: ci, alpha: 1, a: weight, lda: ci,
                  b: inpB, ldb: hw, beta: 0, c: outB, ldc: hw)
        } else {
            var y0 = 0
            while y0 < h {
                let r = min(rows, h - y0)
                im2col(col: col, inp: inpB, c: ci, h: h, w: w, k: k, y0: y0, rows: r)
                // out_b[:, chunk] (Co, r*W) = weight (Co, CKK) x col (CKK, r*W)
                sgemm(transA: false, transB: false, m: co, n: r * w, k: ckk, alpha: 1, a: weight, lda: ckk,
                      b: col, ldb: r * w, beta: 0, c: outB + y0 * w, ldc: hw)
                y0 += r
            }
        }
        guard let bias else { continue }
        for o in 0..<co {
            let bo = bias[o]
            let row = outB + o * hw
            for p in 0..<hw { row[p] += bo }
        }
    }
}

/// Backward of `conv2dForward`. dinp (N, Ci, H, W) is overwritten when given (nil for a network
/// input); dweight (Co, Ci, K, K) and dbias (Co) accumulate; dout: (N, Co, H, W);
/// col: `conv2dColumnCount` scratch; flipped: (Ci, Co, K, K) scratch.
///
/// The input gradient is itself a "same" convolution: of dout with the weights transposed
/// (Ci <-> Co) and rotated 180 degrees, so it runs through `conv2dForward` (and any faster
/// forward kernel speeds it up too).
func conv2dBackward(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    n: Int, ci: Int, co: Int, h: Int, w: Int, k: Int, col: UnsafeMutablePointer<Float>, flipped: UnsafeMutablePointer<Float>,
    rowsPerChunk: Int? = nil
) {
    let hw = h * w
    let ckk = ci * k * k
    let rows = rowsPerChunk ?? im2colChunkRows(ckk: ckk, h: h, w: w)
    for b in 0..<n {
        let inpB = inp + b * ci * hw
        let doutB = dout + b * co * hw
        // dbias (Co) += sum over pixels of dout_b
        for o in 0..<co {
            let row = doutB + o * hw
            var s: Float = 0
            for p in 0..<hw { s += row[p] }
            dbias[o] += s
        }
        if k == 1 {
            // dweight (Co, Ci) += dout_b (Co, HW) x inp_b^T (HW, Ci)
            sgemm(transA: false, transB: true, m: co, n: ci, k: hw, alpha: 1, a: doutB, lda: hw,
                  b: inpB, ldb: hw, beta: 1, c: dweight, ldc: ci)
            continue
        }
        var y0 = 0
        while y0 < h {
            let r = min(rows, h - y0)
            im2col(col: col, inp: inpB, c: ci, h: h, w: w, k: k, y0: y0, rows: r)
            // dweight (Co, CKK) += dout_b[:, chunk] (Co, r*W) x col^T (r*W, CKK)
            sgemm(transA: false, transB: true, m: co, n: ckk, k: r * w, alpha: 1, a: doutB + y0 * w, lda: hw,
                  b: col, ldb: r * w, beta: 1, c: dweight, ldc: ckk)
            y0 += r
        }
    }
    guard let dinp else { return }
    // flipped[c, o, ky, kx] = weight[o, c, K-1-ky, K-1-kx]
    let kk = k * k
    for o in 0..<co {
        for c in 0..<ci {
            for t in 0..<kk { flipped[(c * co + o) * kk + t] = weight[(o * ci + c) * kk + (kk - 1 - t)] }
        }
    }
    conv2dForward(out: dinp, inp: dout, weight: flipped, bias: nil, n: n, ci: co, co: ci, h: h, w: w, k: k, col: col,
                  rowsPerChunk: rowsPerChunk)
}

/// The column matrix of output rows y0 ..< y0+rows: col (C*K*K, rows*W),
/// col[(c*K + ky)*K + kx, (y - y0)*W + x] = inp[c, y + ky - K/2, x + kx - K/2], 0 outside.
/// inp: (C, H, W)
func im2col(col: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, c: Int, h: Int, w: Int, k: Int, y0: Int, rows: Int) {
    let pad = k / 2
    let ld = rows * w
    for ch in 0..<c {
        let plane = inp + ch * h * w
        for ky in 0..<k {
            for kx in 0..<k {
                let row = col + ((ch * k + ky) * k + kx) * ld
                let dx = kx - pad
                let xLo = max(0, -dx), xHi = min(w, w - dx)
                for y in y0..<(y0 + rows) {
                    let sy = y + ky - pad
                    let dst = row + (y - y0) * w
                    if sy < 0 || sy >= h || xLo >= xHi {
                        dst.update(repeating: 0, count: w)
                        continue
                    }
                    if xLo > 0 { dst.update(repeating: 0, count: xLo) }
                    (dst + xLo).update(from: plane + sy * w + xLo + dx, count: xHi - xLo)
                    if xHi < w { (dst + xHi).update(repeating: 0, count: w - xHi) }
                }
            }
        }
    }
}

// MARK: - Naive reference kernels (direct loops), kept to test the optimised ones against.

/// Direct-loop reference of `conv2dForward`. out: (N, Co, H, W); inp: (N, Ci, H, W);
/// weight: (Co, Ci, K, K); bias: (Co). Accumulates in Double.
func conv2dForwardNaive(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    n: Int, ci: Int, co: Int, h: Int, w: Int, k: Int
) {
    let pad = k / 2
    for b in 0..<n {
        for o in 0..<co {
            for y in 0..<h {
                for x in 0..<w {
                    var s = Double(bias[o])
                    for c in 0..<ci {
                        for ky in 0..<k {
                            let sy = y + ky - pad
                            if sy < 0 || sy >= h { continue }
                            for kx in 0..<k {
                                let sx = x + kx - pad
                                if sx < 0 || sx >= w { continue }
                                s += Double(weight[((o * ci + c) * k + ky) * k + kx])
                                    * Double(inp[((b * ci + c) * h + sy) * w + sx])
                            }
                        }
                    }
                    out[((b * co + o) * h + y) * w + x] = Float(s)
                }
            }
        }
    }
}

/// Direct-loop reference of `conv2dBackward` (same accumulate/overwrite conventions).
func conv2dBackwardNaive(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    n: Int, ci: Int, co: Int, h: Int, w: Int, k: Int
) {
    let pad = k / 2
    dinp?.update(repeating: 0, count: n * ci * h * w)
    for b in 0..<n {
        for o in 0..<co {
            for y in 0..<h {
                for x in 0..<w {
                    let g = dout[((b * co + o) * h + y) * w + x]
                    dbias[o] += g
                    for c in 0..<ci {
                        for ky in 0..<k {
                            let sy = y + ky - pad
                            if sy < 0 || sy >= h { continue }
                            for kx in 0..<k {
                                let sx = x + kx - pad
                                if sx < 0 || sx >= w { continue }
                                let wi = ((o * ci + c) * k + ky) * k + kx
                                let ii = ((b * ci + c) * h + sy) * w + sx
                                dweight[wi] += g * inp[ii]
                                dinp?[ii] += g * weight[wi]
                            }
                        }
                    }
                }
            }
        }
    }
}
