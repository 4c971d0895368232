// Batch norm fused with the ReLU that follows it in every U-Net unit: one pass fewer over the
// activations in each direction. The unfused kernels in BatchNorm.swift and Pointwise.swift are
// the reference these are tested against. Work items are channels. Reductions use the SIMD
// helpers in Reductions.swift; the element-wise passes are plain loops LLVM vectorises.

/// Training-mode batch norm then ReLU. out, inp: (N, C, H, W) (may alias); gamma, beta: (C);
/// runningMean, runningVar: (C), updated; mean, rstd: (C), cached for the backward (mean of
/// `inp` itself). Same results as `batchNormTrainForward` followed by `reluForward`.
///
/// inputBias (C), when given, is a per-channel constant the input LACKS (the preceding
/// convolution's bias, not added to save a pass): batch norm subtracts the batch mean, so only
/// the running mean sees it.
func batchNormReluTrainForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
    runningMean: UnsafeMutablePointer<Float>, runningVar: UnsafeMutablePointer<Float>,
    mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
    n: Int, c: Int, hw: Int, inputBias: UnsafePointer<Float>? = nil, workers: Int = 1
) {
    let m = n * hw
    let momentum = BatchNormConstants.momentum
    parallelFor(c, workers: workers) { ch, _ in
        // Sums shifted by the channel's first value keep the variance exact when |mean| >> std.
        let shift = inp[ch * hw]
        var s = 0.0, q = 0.0
        for b in 0..<n {
            let (ps, pq) = reduceShiftedSums(inp + (b * c + ch) * hw, hw, shift: shift)
            s += ps
            q += pq
        }
        let d = s / Double(m)
        let mu = Double(shift) + d
        let variance = max(q / Double(m) - d * d, 0)  // biased, used to normalise
        let r = 1 / (variance + Double(BatchNormConstants.eps)).squareRoot()
        mean[ch] = Float(mu)
        rstd[ch] = Float(r)
        let unbiased = m > 1 ? variance * Double(m) / Double(m - 1) : variance
        runningMean[ch] = (1 - momentum) * runningMean[ch] + momentum * (Float(mu) + (inputBias?[ch] ?? 0))
        runningVar[ch] = (1 - momentum) * runningVar[ch] + momentum * Float(unbiased)
        let scale = gamma[ch] * Float(r)
        affineRelu(out: out, inp: inp, scale: scale, shift: beta[ch] - Float(mu) * scale, n: n, c: c, ch: ch, hw: hw)
    }
}

/// Evaluation-mode batch norm (running statistics) then ReLU. out, inp: (N, C, H, W) (may alias).
/// inputBias (C), when given, is added to the input first (folded into the shift: no extra pass).
func batchNormReluEvalForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
    runningMean: UnsafePointer<Float>, runningVar: UnsafePointer<Float>,
    n: Int, c: Int, hw: Int, inputBias: UnsafePointer<Float>? = nil, workers: Int = 1
) {
    parallelFor(c, workers: workers) { ch, _ in
        let scale = gamma[ch] / (runningVar[ch] + BatchNormConstants.eps).squareRoot()
        let shift = beta[ch] + ((inputBias?[ch] ?? 0) - runningMean[ch]) * scale
        affineRelu(out: out, inp: inp, scale: scale, shift: shift, n: n, c: c, ch: ch, hw: hw)
    }
}

/// out = max(inp * scale + shift, 0) on channel `ch` of every image.
@inline(__always)
private func affineRelu(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, scale: Float, shift: Float, n: Int, c: Int, ch: Int, hw: Int) {
    for b in 0..<n {
        let src = inp + (b * c + ch) * hw
        let dst = out + (b * c + ch) * hw
        for i in 0..<hw {
            let v = src[i] * scale + shift
            dst[i] = v > 0 ? v : 0
        }
    }
}

/// Backward of `batchNormReluTrainForward`. dinp: (N, C, H, W), overwritten (may alias dout);
/// dgamma, dbeta: (C), accumulate; dout: dL/d(ReLU output); out: the ReLU output (out > 0 is
/// the mask); inp: the batch-norm input; mean, rstd: (C) from the forward.
func batchNormReluTrainBackward(
    dinp: UnsafeMutablePointer<Float>, dgamma: UnsafeMutablePointer<Float>, dbeta: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, out: UnsafePointer<Float>, inp: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
    n: Int, c: Int, hw: Int, workers: Int = 1
) {
    let m = Double(n * hw)
    parallelFor(c, workers: workers) { ch, _ in
        let mu = mean[ch], r = rstd[ch]
        var sumDy = 0.0, sumDyXhat = 0.0
        for b in 0..<n {
            let o = (b * c + ch) * hw
            let (sd, sdx) = reduceMaskedSums(dy: dout + o, y: out + o, x: inp + o, hw, mu: mu)
            sumDy += sd
            sumDyXhat += sdx * Double(r)
        }
        dgamma[ch] += Float(sumDyXhat)
        dbeta[ch] += Float(sumDy)
        // dx = gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat)), dy masked by the ReLU
        let k = gamma[ch] * r
        let meanDy = Float(sumDy / m)
        let meanDyXhat = Float(sumDyXhat / m)
        for b in 0..<n {
            let o = (b * c + ch) * hw
            let x = inp + o, dy = dout + o, y = out + o, dx = dinp + o
            for i in 0..<hw {
                let g = y[i] > 0 ? dy[i] : 0
                dx[i] = k * (g - meanDy - (x[i] - mu) * r * meanDyXhat)
            }
        }
    }
}
