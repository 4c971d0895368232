internal import CKernels
// The U-Net's resolution changes: 2x2 max-pool with stride 2 (down) and 2x2 transposed
// convolution with stride 2 (up).

/// Max-pool 2x2, stride 2. out: (N, C, H/2, W/2); inp: (N, C, H, W) with H, W even;
/// argmax: (N, C, H/2, W/2), the flat input index (within the (H, W) plane) of each maximum.
/// Ties go to the first maximum in the order (0,0), (0,1), (1,0), (1,1), as in PyTorch; NaN
/// wins. The C kernel (AVX-512 when available; `scalar` forces the portable loop);
/// `maxPoolForwardNaive` is the reference.
func maxPoolForward(
    out: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>, inp: UnsafePointer<Float>,
    n: Int, c: Int, h: Int, w: Int, workers: Int = 1, scalar: Bool = false
) {
    precondition(h % 2 == 0 && w % 2 == 0, "max-pool 2x2 needs even height and width, got \(h)x\(w)")
    let planes = n * c, hw = h * w
    let per = max(1, 16384 / max(hw, 1))  // planes per item: at least ~16k input values
    let items = (planes + per - 1) / per
    let kernel = scalar ? ck_maxpool2x2_scalar : ck_maxpool2x2
    parallelFor(items, workers: workers) { item, _ in
        let p0 = item * per, count = min(per, planes - p0)
        kernel(out + p0 * hw / 4, argmax + p0 * hw / 4, inp + p0 * hw, Int32(count), Int32(h), Int32(w))
    }
}

/// Direct-loop reference of `maxPoolForward` (same contract, one thread).
func maxPoolForwardNaive(
    out: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>, inp: UnsafePointer<Float>,
    n: Int, c: Int, h: Int, w: Int
) {
    let ho = h / 2, wo = w / 2
    for plane in 0..<(n * c) {
        let x = inp + plane * h * w
        let y = out + plane * ho * wo
        let am = argmax + plane * ho * wo
        for oy in 0..<ho {
            for ox in 0..<wo {
                let i0 = (2 * oy) * w + 2 * ox
                var best = i0
                var bestValue = x[i0]
                // window order (0,1), (1,0), (1,1) after (0,0); strict > keeps the first maximum
                for t in 0..<3 {
                    let idx = i0 + (t == 0 ? 1 : t == 1 ? w : w + 1)
                    if x[idx] > bestValue || x[idx].isNaN {
                        best = idx
                        bestValue = x[idx]
                    }
                }
                y[oy * wo + ox] = bestValue
                am[oy * wo + ox] = Int32(best)
            }
        }
    }
}

/// Inference max-pool 2x2 (stride 2): the values of `maxPoolForward` (NaN wins) without the
/// argmax, through the C kernel (AVX-512 when available; `scalar` forces the portable loop).
/// out: (N, C, H/2, W/2); inp: (N, C, H, W). Work items are groups of planes.
/// inImageStride: floats from one input image to the next (default C*H*W; larger when the
/// input is the first half of a concatenation buffer).
func maxPoolEvalForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int,
    workers: Int = 1, scalar: Bool = false, inImageStride: Int? = nil
) {
    precondition(h % 2 == 0 && w % 2 == 0, "max-pool 2x2 needs even height and width, got \(h)x\(w)")
    let hw = h * w
    let inStride = inImageStride ?? c * hw
    let per = min(c, max(1, 16384 / max(hw, 1)))  // planes per item: at least ~16k input values
    let groups = (c + per - 1) / per
    let kernel = scalar ? ck_maxpool2x2_scalar : ck_maxpool2x2
    parallelFor(n * groups, workers: workers) { item, _ in
        let b = item / groups, p0 = (item % groups) * per, count = min(per, c - p0)
        kernel(out + (b * c + p0) * hw / 4, nil, inp + b * inStride + p0 * hw, Int32(count), Int32(h), Int32(w))
    }
}

/// Max-pool backward: the gradient goes to the cached argmax only, and ACCUMULATES into dinp
/// (N, C, H, W) (the pooled tensor's input is also the U-Net skip, whose gradient is written
/// first). dout, argmax: (N, C, H/2, W/2).
func maxPoolBackward(
    dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, argmax: UnsafePointer<Int32>,
    n: Int, c: Int, h: Int, w: Int, workers: Int = 1
) {
    let hwo = (h / 2) * (w / 2)
    parallelFor(n * c, workers: workers) { plane, _ in
        let dx = dinp + plane * h * w
        let dy = dout + plane * hwo
        let am = argmax + plane * hwo
        for i in 0..<hwo { dx[Int(am[i])] += dy[i] }
    }
}

/// Transposed convolution 2x2, stride 2, with bias (PyTorch `ConvTranspose2d(ci, co, 2, 2)`):
/// out[n, o, 2y+a, 2x+b] = bias[o] + sum_c inp[n, c, y, x] * weight[c, o, a, b].
/// out: (N, Co, 2H, 2W); inp: (N, Ci, H, W); weight: (Ci, Co, 2, 2) (PyTorch's IOHW); bias: (Co);
/// col: `workers` x max((Co*4, H*W), `upConvPackedScratchCount(ci)`) scratch covers both routes.
/// packed: nil (im2col-free GEMM + scatter), or `upConvPackedCount(ci, co)` floats: the weights
/// are packed per 16 output channels and the direct kernel of Sources/CKernels/upconv2x2.c
/// runs (AVX-512 and W >= 8; `scalar` forces its portable twin). Work items are images, or row chunks of
/// one (see `upConvChunks`).
func upConvForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    n: Int, ci: Int, co: Int, h: Int, w: Int, col: UnsafeMutablePointer<Float>, workers: Int = 1,
    outImageStride: Int? = nil, packed: UnsafeMutablePointer<Float>? = nil, scalar: Bool = false
) {
    let hw = h * w
    let w2 = 2 * w
    let outStride = outImageStride ?? co * 4 * hw
    let (rows, chunks) = upConvChunks(n: n, h: h, workers: workers)
    if let packed, scalar || (conv3x3DirectAvailable && w >= 8) {
        // Packed weights, direct kernel (Sources/CKernels/upconv2x2.c): no column buffer, no
        // scatter. Rows under 8 pixels (its tile width) keep GEMM + scatter below.
        let blocks = (co + 15) / 16
        parallelFor(blocks, workers: min(workers, blocks)) { ob, _ in
            ck_upconv2x2_pack(packed, weight, bias, Int32(ci), Int32(co), Int32(ob), Int32(ob + 1))
        }
        let scratchStride = upConvPackedScratchCount(ci: ci)
        parallelFor(n * chunks, workers: workers) { item, worker in
            let b = item / chunks, y0 = (item % chunks) * rows
            let r = min(rows, h - y0)
            guard r > 0 else { return }
            let o = out + b * outStride, x = inp + b * ci * hw
            if scalar {
                ck_upconv2x2_packed_forward_scalar(o, x, packed, Int32(ci), Int32(co), Int32(h), Int32(w), Int32(y0), Int32(r))
            } else {
                ck_upconv2x2_packed_forward(o, x, packed, col + worker * scratchStride, Int32(ci), Int32(co), Int32(h),
                                            Int32(w), Int32(y0), Int32(r))
            }
        }
        return
    }
    parallelFor(n * chunks, workers: workers) { item, worker in
        let b = item / chunks, y0 = (item % chunks) * rows
        let r = min(rows, h - y0)
        guard r > 0 else { return }
        let col = col + worker * co * 4 * hw
        let ld = r * w
        // col (Co*4, r*W) = weight^T (Co*4, Ci) x inp_b[:, rows] (Ci, r*W)
        sgemm(transA: true, transB: false, m: co * 4, n: ld, k: ci, alpha: 1, a: weight, lda: co * 4,
              b: inp + b * ci * hw + y0 * w, ldb: hw, beta: 0, c: col, ldc: ld)
        let outB = out + b * outStride
        for o in 0..<co {
            let bo = bias[o]
            let dst = outB + o * 4 * hw
            for k in 0..<4 {
                let src = col + (o * 4 + k) * ld
                let a = k / 2, bb = k % 2
                for y in 0..<r {
                    let row = dst + (2 * (y0 + y) + a) * w2 + bb
                    for x in 0..<w { row[2 * x] = src[y * w + x] + bo }
                }
            }
        }
    }
}

/// Floats of the packed weights + bias of `upConvForward`'s packed route for (Ci, Co).
func upConvPackedCount(ci: Int, co: Int) -> Int { Int(ck_upconv2x2_packed_count(Int32(ci), Int32(co))) }

/// Floats of column scratch per worker the packed route of `upConvForward` needs (one 64-pixel
/// chunk of an input row, all channels).
func upConvPackedScratchCount(ci: Int) -> Int { Int(ck_upconv2x2_scratch_count(Int32(ci), 0, 0)) }

/// Work split of a transposed convolution: whole images when there are at least as many as
/// workers, else each image in row chunks so a single image still uses every worker.
/// Returns (rows per chunk, chunks per image).
func upConvChunks(n: Int, h: Int, workers: Int) -> (rows: Int, chunks: Int) {
    guard n < workers else { return (h, 1) }
    let wanted = min(h, (workers + n - 1) / n)
    let rows = (h + wanted - 1) / wanted
    return (rows, (h + rows - 1) / rows)
}

/// Transposed-convolution backward. dinp (N, Ci, H, W) overwritten when given; dweight
/// (Ci, Co, 2, 2) and dbias (Co) accumulate; dout: (N, Co, 2H, 2W); col: `workers` x
/// (Co*4, H*W) scratch; partials: `workers` x (Ci*Co*4 + Co) scratch (unused with one worker).
func upConvBackward(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    n: Int, ci: Int, co: Int, h: Int, w: Int, col: UnsafeMutablePointer<Float>,
    partials: UnsafeMutablePointer<Float>, workers: Int = 1
) {
    let hw = h * w
    let w2 = 2 * w
    let partialStride = ci * co * 4 + co
    let (rows, chunks) = upConvChunks(n: n, h: h, workers: workers)
    let active = min(workers, n * chunks)
    if active > 1 { partials.update(repeating: 0, count: active * partialStride) }
    parallelFor(n * chunks, workers: workers) { item, worker in
        let b = item / chunks, y0 = (item % chunks) * rows
        let r = min(rows, h - y0)
        guard r > 0 else { return }
        let col = col + worker * co * 4 * hw
        let ld = r * w
        let dweight = active > 1 ? partials + worker * partialStride : dweight
        let dbias = active > 1 ? dweight + ci * co * 4 : dbias
        // gather dcol (Co*4, r*W) from output rows 2*y0 ..< 2*(y0+r) of dout_b (Co, 2H, 2W)
        let doutB = dout + b * co * 4 * hw
        for o in 0..<co {
            let src = doutB + o * 4 * hw
            dbias[o] += Float(reduceSum(src + 2 * y0 * w2, 2 * r * w2))
            for k in 0..<4 {
                let dst = col + (o * 4 + k) * ld
                let a = k / 2, bb = k % 2
                for y in 0..<r {
                    let row = src + (2 * (y0 + y) + a) * w2 + bb
                    for x in 0..<w { dst[y * w + x] = row[2 * x] }
                }
            }
        }
        let inpChunk = inp + b * ci * hw + y0 * w
        // dweight (Ci, Co*4) += inp_b[:, rows] (Ci, r*W) x dcol^T (r*W, Co*4)
        sgemm(transA: false, transB: true, m: ci, n: co * 4, k: ld, alpha: 1, a: inpChunk, lda: hw,
              b: col, ldb: ld, beta: 1, c: dweight, ldc: co * 4)
        // dinp_b[:, rows] (Ci, r*W) = weight (Ci, Co*4) x dcol (Co*4, r*W)
        if let dinp {
            sgemm(transA: false, transB: false, m: ci, n: ld, k: co * 4, alpha: 1, a: weight, lda: co * 4,
                  b: col, ldb: ld, beta: 0, c: dinp + b * ci * hw + y0 * w, ldc: hw)
        }
    }
    if active > 1 {
        for wk in 0..<active {
            let part = partials + wk * partialStride
            for i in 0..<(ci * co * 4) { dweight[i] += part[i] }
            for o in 0..<co { dbias[o] += part[ci * co * 4 + o] }
        }
    }
}

/// Direct-loop reference of `upConvForward` (Double accumulation).
func upConvForwardNaive(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    n: Int, ci: Int, co: Int, h: Int, w: Int
) {
    for b in 0..<n {
        for o in 0..<co {
            for oy in 0..<(2 * h) {
                for ox in 0..<(2 * w) {
                    let y = oy / 2, x = ox / 2, a = oy % 2, bb = ox % 2
                    var s = Double(bias[o])
                    for c in 0..<ci {
                        s += Double(inp[((b * ci + c) * h + y) * w + x]) * Double(weight[((c * co + o) * 2 + a) * 2 + bb])
                    }
                    out[((b * co + o) * 2 * h + oy) * 2 * w + ox] = Float(s)
                }
            }
        }
    }
}

/// Direct-loop reference of `upConvBackward` (same conventions).
func upConvBackwardNaive(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    n: Int, ci: Int, co: Int, h: Int, w: Int
) {
    dinp?.update(repeating: 0, count: n * ci * h * w)
    for b in 0..<n {
        for o in 0..<co {
            for oy in 0..<(2 * h) {
                for ox in 0..<(2 * w) {
                    let y = oy / 2, x = ox / 2, a = oy % 2, bb = ox % 2
                    let g = dout[((b * co + o) * 2 * h + oy) * 2 * w + ox]
                    dbias[o] += g
                    for c in 0..<ci {
                        let ii = ((b * ci + c) * h + y) * w + x
                        let wi = ((c * co + o) * 2 + a) * 2 + bb
                        dweight[wi] += g * inp[ii]
                        dinp?[ii] += g * weight[wi]
                    }
                }
            }
        }
    }
}
