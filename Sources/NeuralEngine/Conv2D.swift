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

/// Floats of im2col scratch ONE worker needs for a K x K convolution (Ci -> Co channels, H x W),
/// forward and backward (the backward's input gradient is a convolution of the Co-channel
/// output gradient, so the count is symmetric in Ci and Co). Give kernels `workers` times this.
func conv2dColumnCount(ci: Int, co: Int, h: Int, w: Int, k: Int, rowsPerChunk: Int? = nil) -> Int {
    guard k > 1 else { return 0 }
    func count(_ ckk: Int) -> Int { ckk * w * min(h, rowsPerChunk ?? im2colChunkRows(ckk: ckk, h: h, w: w)) }
    return max(count(ci * k * k), count(co * k * k))
}

/// Floats of weight- and bias-gradient partials ONE worker needs in a backward with more than
/// one worker (each worker accumulates its own, summed at the end).
func conv2dPartialCount(ci: Int, co: Int, k: Int) -> Int { co * ci * k * k + co }

/// Forward. out: (N, Co, H, W); inp: (N, Ci, H, W); weight: (Co, Ci, K, K); bias: (Co), or nil;
/// col: `workers` x `conv2dColumnCount` scratch (unused when K == 1).
/// Work items are (image, chunk of rows); rowsPerChunk overrides the chunk size (tests).
func conv2dForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    n: Int, ci: Int, co: Int, h: Int, w: Int, k: Int, col: UnsafeMutablePointer<Float>,
    workers: Int = 1, rowsPerChunk: Int? = nil
) {
    let hw = h * w
    let ckk = ci * k * k
    let rows = min(h, rowsPerChunk ?? im2colChunkRows(ckk: ckk, h: h, w: w))
    let chunks = (h + rows - 1) / rows
    let colStride = conv2dColumnCount(ci: ci, co: co, h: h, w: w, k: k, rowsPerChunk: rowsPerChunk)
    parallelFor(n * chunks, workers: workers) { item, worker in
        let b = item / chunks, y0 = (item % chunks) * rows
        let r = min(rows, h - y0)
        let outChunk = out + b * co * hw + y0 * w
        if k == 1 {
            // out_b[:, chunk] (Co, r*W) = weight (Co, Ci) x inp_b[:, chunk] (Ci, r*W)
            sgemm(transA: false, transB: false, m: co, n: r * w, k: ci, alpha: 1, a: weight, lda: ci,
                  b: inp + b * ci * hw + y0 * w, ldb: hw, beta: 0, c: outChunk, ldc: hw)
        } else {
            let cols = col + worker * colStride
            im2col(col: cols, inp: inp + b * ci * hw, c: ci, h: h, w: w, k: k, y0: y0, rows: r)
            // out_b[:, chunk] (Co, r*W) = weight (Co, CKK) x cols (CKK, r*W)
            sgemm(transA: false, transB: false, m: co, n: r * w, k: ckk, alpha: 1, a: weight, lda: ckk,
                  b: cols, ldb: r * w, beta: 0, c: outChunk, ldc: hw)
        }
        guard let bias else { return }
        for o in 0..<co {
            let bo = bias[o]
            let row = outChunk + o * hw
            for p in 0..<(r * w) { row[p] += bo }
        }
    }
}

/// Backward of `conv2dForward`. dinp (N, Ci, H, W) is overwritten when given (nil for a network
/// input); dweight (Co, Ci, K, K) and dbias (Co) accumulate; dout: (N, Co, H, W);
/// col: `workers` x `conv2dColumnCount` scratch; flipped: (Ci, Co, K, K) scratch;
/// partials: `workers` x `conv2dPartialCount` scratch (unused with one worker).
///
/// The input gradient is itself a "same" convolution: of dout with the weights transposed
/// (Ci <-> Co) and rotated 180 degrees, so it runs through `conv2dForward` (and any faster
/// forward kernel speeds it up too).
func conv2dBackward(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    n: Int, ci: Int, co: Int, h: Int, w: Int, k: Int, col: UnsafeMutablePointer<Float>, flipped: UnsafeMutablePointer<Float>,
    partials: UnsafeMutablePointer<Float>, workers: Int = 1, rowsPerChunk: Int? = nil
) {
    let hw = h * w
    let ckk = ci * k * k
    let rows = min(h, rowsPerChunk ?? im2colChunkRows(ckk: ckk, h: h, w: w))
    let chunks = (h + rows - 1) / rows
    let colStride = conv2dColumnCount(ci: ci, co: co, h: h, w: w, k: k, rowsPerChunk: rowsPerChunk)
    let partialStride = conv2dPartialCount(ci: ci, co: co, k: k)
    let active = min(workers, n * chunks)
    if active > 1 { partials.update(repeating: 0, count: active * partialStride) }
    parallelFor(n * chunks, workers: workers) { item, worker in
        let b = item / chunks, y0 = (item % chunks) * rows
        let r = min(rows, h - y0)
        let dW = active > 1 ? partials + worker * partialStride : dweight
        let dB = active > 1 ? dW + co * ckk : dbias
        let doutChunk = dout + b * co * hw + y0 * w
        // dbias (Co) += sum over the chunk's pixels of dout
        for o in 0..<co { dB[o] += Float(reduceSum(doutChunk + o * hw, r * w)) }
        if k == 1 {
            // dweight (Co, Ci) += dout_b[:, chunk] (Co, r*W) x inp_b[:, chunk]^T (r*W, Ci)
            sgemm(transA: false, transB: true, m: co, n: ci, k: r * w, alpha: 1, a: doutChunk, lda: hw,
                  b: inp + b * ci * hw + y0 * w, ldb: hw, beta: 1, c: dW, ldc: ci)
        } else {
            let cols = col + worker * colStride
            im2col(col: cols, inp: inp + b * ci * hw, c: ci, h: h, w: w, k: k, y0: y0, rows: r)
            // dweight (Co, CKK) += dout_b[:, chunk] (Co, r*W) x cols^T (r*W, CKK)
            sgemm(transA: false, transB: true, m: co, n: ckk, k: r * w, alpha: 1, a: doutChunk, lda: hw,
                  b: cols, ldb: r * w, beta: 1, c: dW, ldc: ckk)
        }
    }
    if active > 1 {
        for wk in 0..<active {
            let part = partials + wk * partialStride
            for i in 0..<(co * ckk) { dweight[i] += part[i] }
            for o in 0..<co { dbias[o] += part[co * ckk + o] }
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
                  workers: workers, rowsPerChunk: rowsPerChunk)
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
