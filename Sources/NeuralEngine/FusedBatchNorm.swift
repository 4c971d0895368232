// Batch norm fused with the ReLU that follows it in every U-Net unit: one pass fewer over the
// activations in each direction. The unfused kernels in BatchNorm.swift and Pointwise.swift are
// the reference these are tested against. Reductions use 8-lane Float partial sums flushed to
// Double every `flushEvery` elements (exact enough for 1e-4-relative agreement with PyTorch,
// and vectorisable, which a Double accumulator per element is not).

private let flushEvery = 1024

@inline(__always) private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always) private func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// Sum of x[0..<count] and of (x - shift)^2, in Double.
@inline(__always)
private func sums(_ x: UnsafePointer<Float>, _ count: Int, shift: Float) -> (Double, Double) {
    var total = 0.0, totalSq = 0.0
    var start = 0
    while start < count {
        let end = min(count, start + flushEvery)
        var s = SIMD8<Float>(), q = SIMD8<Float>()
        var i = start
        while i + 8 <= end {
            let v = load8(x + i) - shift
            s += v
            q = q.addingProduct(v, v)
            i += 8
        }
        var sTail: Float = 0, qTail: Float = 0
        while i < end {
            let v = x[i] - shift
            sTail += v
            qTail += v * v
            i += 1
        }
        total += Double(s.sum() + sTail)
        totalSq += Double(q.sum() + qTail)
        start = end
    }
    return (total + Double(shift) * Double(count), totalSq)
}

/// Training-mode batch norm then ReLU. out, inp: (N, C, H, W) (may alias); gamma, beta: (C);
/// runningMean, runningVar: (C), updated; mean, rstd: (C), cached for the backward.
/// Same results as `batchNormTrainForward` followed by `reluForward`.
func batchNormReluTrainForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
    runningMean: UnsafeMutablePointer<Float>, runningVar: UnsafeMutablePointer<Float>,
    mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
    n: Int, c: Int, hw: Int
) {
    let m = Double(n * hw)
    let momentum = BatchNormConstants.momentum
    for ch in 0..<c {
        // Shifted sums (shift = the first value) keep the variance accurate when |mean| >> std.
        let shift = inp[ch * hw]
        var s = 0.0, q = 0.0
        for b in 0..<n {
            let (ps, pq) = sums(inp + (b * c + ch) * hw, hw, shift: shift)
            s += ps
            q += pq
        }
        let mu = s / m
        let d = mu - Double(shift)
        let variance = max(q / m - d * d, 0)  // biased
        let r = 1 / (variance + Double(BatchNormConstants.eps)).squareRoot()
        mean[ch] = Float(mu)
        rstd[ch] = Float(r)
        let unbiased = m > 1 ? variance * m / (m - 1) : variance
        runningMean[ch] = (1 - momentum) * runningMean[ch] + momentum * Float(mu)
        runningVar[ch] = (1 - momentum) * runningVar[ch] + momentum * Float(unbiased)
        affineRelu(out: out, inp: inp, scale: gamma[ch] * Float(r), shift: beta[ch] - Float(mu) * gamma[ch] * Float(r), n: n, c: c, ch: ch, hw: hw)
    }
}

/// Evaluation-mode batch norm (running statistics) then ReLU. out, inp: (N, C, H, W) (may alias).
func batchNormReluEvalForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
    runningMean: UnsafePointer<Float>, runningVar: UnsafePointer<Float>,
    n: Int, c: Int, hw: Int
) {
    for ch in 0..<c {
        let scale = gamma[ch] / (runningVar[ch] + BatchNormConstants.eps).squareRoot()
        affineRelu(out: out, inp: inp, scale: scale, shift: beta[ch] - runningMean[ch] * scale, n: n, c: c, ch: ch, hw: hw)
    }
}

/// out = max(inp * scale + shift, 0) on channel `ch` of every image.
@inline(__always)
private func affineRelu(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, scale: Float, shift: Float, n: Int, c: Int, ch: Int, hw: Int) {
    let zero = SIMD8<Float>()
    for b in 0..<n {
        let src = inp + (b * c + ch) * hw
        let dst = out + (b * c + ch) * hw
        var i = 0
        while i + 8 <= hw {
            store8(pointwiseMax(load8(src + i) * scale + shift, zero), dst + i)
            i += 8
        }
        while i < hw {
            dst[i] = max(src[i] * scale + shift, 0)
            i += 1
        }
    }
}

/// Backward of `batchNormReluTrainForward`. dinp: (N, C, H, W), overwritten (may alias dout);
/// dgamma, dbeta: (C), accumulate; dout: dL/d(ReLU output); out: the ReLU output (its sign is
/// the mask); inp: the batch-norm input; mean, rstd: (C) from the forward.
func batchNormReluTrainBackward(
    dinp: UnsafeMutablePointer<Float>, dgamma: UnsafeMutablePointer<Float>, dbeta: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, out: UnsafePointer<Float>, inp: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
    n: Int, c: Int, hw: Int
) {
    let m = Double(n * hw)
    let zero = SIMD8<Float>()
    for ch in 0..<c {
        let mu = mean[ch], r = rstd[ch]
        var sumDy = 0.0, sumDyXhat = 0.0
        for b in 0..<n {
            let o = (b * c + ch) * hw
            let x = inp + o, dy = dout + o, y = out + o
            var start = 0
            while start < hw {
                let end = min(hw, start + flushEvery)
                var s = SIMD8<Float>(), q = SIMD8<Float>()
                var i = start
                while i + 8 <= end {
                    let g = load8(dy + i).replacing(with: zero, where: load8(y + i) .<= zero)
                    s += g
                    q = q.addingProduct(g, (load8(x + i) - mu) * r)
                    i += 8
                }
                var sTail: Float = 0, qTail: Float = 0
                while i < end {
                    let g = y[i] > 0 ? dy[i] : 0
                    sTail += g
                    qTail += g * (x[i] - mu) * r
                    i += 1
                }
                sumDy += Double(s.sum() + sTail)
                sumDyXhat += Double(q.sum() + qTail)
                start = end
            }
        }
        dgamma[ch] += Float(sumDyXhat)
        dbeta[ch] += Float(sumDy)
        // dx = gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat)), dy masked by ReLU
        let k = gamma[ch] * r
        let meanDy = Float(sumDy / m)
        let meanDyXhat = Float(sumDyXhat / m)
        for b in 0..<n {
            let o = (b * c + ch) * hw
            let x = inp + o, dy = dout + o, y = out + o, dx = dinp + o
            var i = 0
            while i + 8 <= hw {
                let g = load8(dy + i).replacing(with: zero, where: load8(y + i) .<= zero)
                let xhat = (load8(x + i) - mu) * r
                store8(k * (g - meanDy - xhat * meanDyXhat), dx + i)
                i += 8
            }
            while i < hw {
                let g = y[i] > 0 ? dy[i] : 0
                dx[i] = k * (g - meanDy - (x[i] - mu) * r * meanDyXhat)
                i += 1
            }
        }
    }
}
