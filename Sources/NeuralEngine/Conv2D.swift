// Convolution with stride 1 and "same" padding (K odd, pad = K / 2), with bias: the 3x3 (pad 1)
// and 1x1 convolutions of the U-Net. Gradients of weight and bias ACCUMULATE (+=) so a caller
// zeroes them once per step; the input gradient is OVERWRITTEN.

/// Floats of im2col scratch a K x K convolution (Ci -> Co channels, H x W) needs, forward and
/// backward (the backward's input gradient is a convolution of the Co-channel output gradient).
func conv2dColumnCount(ci: Int, co: Int, h: Int, w: Int, k: Int) -> Int { k == 1 ? 0 : max(ci, co) * k * k * h * w }

/// Forward, im2col + GEMM per image.
/// out: (N, Co, H, W); inp: (N, Ci, H, W); weight: (Co, Ci, K, K); bias: (Co), or nil for none;
/// col: (Ci*K*K, H*W) scratch, unused when K == 1.
func conv2dForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    n: Int, ci: Int, co: Int, h: Int, w: Int, k: Int, col: UnsafeMutablePointer<Float>
) {
    let hw = h * w
    let ckk = ci * k * k
    for b in 0..<n {
        let inpB = inp + b * ci * hw
        let outB = out + b * co * hw
        let cols: UnsafePointer<Float>
        if k == 1 {
            cols = inpB
        } else {
            im2col(col: col, inp: inpB, c: ci, h: h, w: w, k: k)
            cols = UnsafePointer(col)
        }
        // out_b (Co, HW) = weight (Co, CKK) x cols (CKK, HW)
        sgemm(transA: false, transB: false, m: co, n: hw, k: ckk, alpha: 1, a: weight, lda: ckk,
              b: cols, ldb: hw, beta: 0, c: outB, ldc: hw)
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
/// col: `conv2dColumnCount(ci:co:h:w:k:)` scratch; flipped: (Ci, Co, K, K) scratch.
///
/// The input gradient is itself a "same" convolution: of dout with the weights transposed
/// (Ci <-> Co) and rotated 180 degrees, so it runs through `conv2dForward` (and any faster
/// forward kernel speeds it up too).
func conv2dBackward(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    n: Int, ci: Int, co: Int, h: Int, w: Int, k: Int, col: UnsafeMutablePointer<Float>, flipped: UnsafeMutablePointer<Float>
) {
    let hw = h * w
    let ckk = ci * k * k
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
        let cols: UnsafePointer<Float>
        if k == 1 {
            cols = inpB
        } else {
            im2col(col: col, inp: inpB, c: ci, h: h, w: w, k: k)
            cols = UnsafePointer(col)
        }
        // dweight (Co, CKK) += dout_b (Co, HW) x cols^T (HW, CKK)
        sgemm(transA: false, transB: true, m: co, n: ckk, k: hw, alpha: 1, a: doutB, lda: hw,
              b: cols, ldb: hw, beta: 1, c: dweight, ldc: ckk)
    }
    guard let dinp else { return }
    // flipped[c, o, ky, kx] = weight[o, c, K-1-ky, K-1-kx]
    let kk = k * k
    for o in 0..<co {
        for c in 0..<ci {
            for t in 0..<kk { flipped[(c * co + o) * kk + t] = weight[(o * ci + c) * kk + (kk - 1 - t)] }
        }
    }
    conv2dForward(out: dinp, inp: dout, weight: flipped, bias: nil, n: n, ci: co, co: ci, h: h, w: w, k: k, col: col)
}

/// col (C*K*K, H*W): col[(c*K + ky)*K + kx, y*W + x] = inp[c, y + ky - K/2, x + kx - K/2], 0 outside.
/// inp: (C, H, W)
func im2col(col: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, c: Int, h: Int, w: Int, k: Int) {
    let pad = k / 2
    let hw = h * w
    for ch in 0..<c {
        let plane = inp + ch * hw
        for ky in 0..<k {
            for kx in 0..<k {
                let row = col + ((ch * k + ky) * k + kx) * hw
                let dx = kx - pad
                let xLo = max(0, -dx), xHi = min(w, w - dx)
                for y in 0..<h {
                    let sy = y + ky - pad
                    let dst = row + y * w
                    if sy < 0 || sy >= h || xLo >= xHi {
                        dst.update(repeating: 0, count: w)
                        continue
                    }
                    let src = plane + sy * w
                    for x in 0..<xLo { dst[x] = 0 }
                    for x in xLo..<xHi { dst[x] = src[x + dx] }
                    for x in xHi..<w { dst[x] = 0 }
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
