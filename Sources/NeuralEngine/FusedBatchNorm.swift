internal import CKernels

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
/// dinpSum (C), when given, accumulates the sum over images and pixels of dinp per channel
/// (the bias gradient of the convolution before, without another pass). One C kernel per
/// channel (Sources/CKernels/batchnorm.c, AVX-512 or the portable loop; `scalar` forces the
/// latter, for tests).
func batchNormReluTrainBackward(
    dinp: UnsafeMutablePointer<Float>, dgamma: UnsafeMutablePointer<Float>, dbeta: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, out: UnsafePointer<Float>, inp: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
    n: Int, c: Int, hw: Int, dinpSum: UnsafeMutablePointer<Float>? = nil, workers: Int = 1, scalar: Bool = false
) {
    let kernel = scalar ? ck_bn_relu_backward_scalar : ck_bn_relu_backward
    parallelFor(c, workers: workers) { ch, _ in
        let o = ch * hw
        var sums: (Double, Double, Double) = (0, 0, 0)
        withUnsafeMutablePointer(to: &sums) {
            $0.withMemoryRebound(to: Double.self, capacity: 3) { s in
                kernel(dinp + o, dout + o, out + o, inp + o, Int32(n), c * hw, Int32(hw), mean[ch], rstd[ch], gamma[ch], s)
            }
        }
        dbeta[ch] += Float(sums.0)
        dgamma[ch] += Float(sums.1)
        dinpSum?[ch] += Float(sums.2)
    }
}
