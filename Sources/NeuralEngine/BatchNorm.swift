// Batch normalisation over (N, H, W) per channel, PyTorch semantics: training mode normalises with
// the batch mean and biased variance and updates the running statistics with momentum 0.1 and the
// UNBIASED variance; evaluation mode normalises with the running statistics.

/// Batch-norm constants (PyTorch defaults).
enum BatchNormConstants {
    static let eps: Float = 1e-5
    static let momentum: Float = 0.1
}

/// Training-mode forward. out, inp: (N, C, H, W); gamma, beta: (C);
/// runningMean, runningVar: (C), updated in place; mean, rstd: (C), cached for the backward.
/// `out` may alias `inp`.
func batchNormTrainForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
    runningMean: UnsafeMutablePointer<Float>, runningVar: UnsafeMutablePointer<Float>,
    mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
    n: Int, c: Int, hw: Int
) {
    let m = n * hw
    let momentum = BatchNormConstants.momentum
    for ch in 0..<c {
        var sum = 0.0
        for b in 0..<n {
            let p = inp + (b * c + ch) * hw
            for i in 0..<hw { sum += Double(p[i]) }
        }
        let mu = sum / Double(m)
        var sq = 0.0
        for b in 0..<n {
            let p = inp + (b * c + ch) * hw
            for i in 0..<hw {
                let d = Double(p[i]) - mu
                sq += d * d
            }
        }
        let variance = sq / Double(m)  // biased, used to normalise
        let r = 1 / (variance + Double(BatchNormConstants.eps)).squareRoot()
        mean[ch] = Float(mu)
        rstd[ch] = Float(r)
        let unbiased = m > 1 ? variance * Double(m) / Double(m - 1) : variance
        runningMean[ch] = (1 - momentum) * runningMean[ch] + momentum * Float(mu)
        runningVar[ch] = (1 - momentum) * runningVar[ch] + momentum * Float(unbiased)
        let scale = gamma[ch] * Float(r)
        let shift = beta[ch] - Float(mu) * scale
        for b in 0..<n {
            let src = inp + (b * c + ch) * hw
            let dst = out + (b * c + ch) * hw
            for i in 0..<hw { dst[i] = src[i] * scale + shift }
        }
    }
}

/// Training-mode backward. dinp: (N, C, H, W), overwritten (may alias dout); dgamma, dbeta: (C),
/// accumulate; dout, inp: (N, C, H, W); mean, rstd: (C) from the forward.
///
/// With xhat = (x - mean) * rstd and M = N*H*W:
/// dx = rstd / M * (M * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)), dxhat = dy * gamma.
func batchNormTrainBackward(
    dinp: UnsafeMutablePointer<Float>, dgamma: UnsafeMutablePointer<Float>, dbeta: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
    n: Int, c: Int, hw: Int
) {
    let m = Double(n * hw)
    for ch in 0..<c {
        let mu = mean[ch], r = rstd[ch]
        var sumDy = 0.0, sumDyXhat = 0.0
        for b in 0..<n {
            let x = inp + (b * c + ch) * hw
            let dy = dout + (b * c + ch) * hw
            for i in 0..<hw {
                sumDy += Double(dy[i])
                sumDyXhat += Double(dy[i]) * Double((x[i] - mu) * r)
            }
        }
        dgamma[ch] += Float(sumDyXhat)
        dbeta[ch] += Float(sumDy)
        // dx = gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat))
        let k = gamma[ch] * r
        let meanDy = Float(sumDy / m)
        let meanDyXhat = Float(sumDyXhat / m)
        for b in 0..<n {
            let x = inp + (b * c + ch) * hw
            let dy = dout + (b * c + ch) * hw
            let dx = dinp + (b * c + ch) * hw
            for i in 0..<hw {
                let xhat = (x[i] - mu) * r
                dx[i] = k * (dy[i] - meanDy - xhat * meanDyXhat)
            }
        }
    }
}

/// Evaluation-mode forward with the running statistics. out, inp: (N, C, H, W) (may alias);
/// gamma, beta, runningMean, runningVar: (C).
func batchNormEvalForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
    runningMean: UnsafePointer<Float>, runningVar: UnsafePointer<Float>,
    n: Int, c: Int, hw: Int
) {
    for ch in 0..<c {
        let scale = gamma[ch] / (runningVar[ch] + BatchNormConstants.eps).squareRoot()
        let shift = beta[ch] - runningMean[ch] * scale
        for b in 0..<n {
            let src = inp + (b * c + ch) * hw
            let dst = out + (b * c + ch) * hw
            for i in 0..<hw { dst[i] = src[i] * scale + shift }
        }
    }
}

/// Evaluation-mode backward (statistics are constants). dinp: (N, C, H, W), overwritten;
/// dgamma, dbeta: (C), accumulate; dout, inp: (N, C, H, W).
func batchNormEvalBackward(
    dinp: UnsafeMutablePointer<Float>, dgamma: UnsafeMutablePointer<Float>, dbeta: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
    runningMean: UnsafePointer<Float>, runningVar: UnsafePointer<Float>,
    n: Int, c: Int, hw: Int
) {
    for ch in 0..<c {
        let r = 1 / (runningVar[ch] + BatchNormConstants.eps).squareRoot()
        var sumDy = 0.0, sumDyXhat = 0.0
        for b in 0..<n {
            let x = inp + (b * c + ch) * hw
            let dy = dout + (b * c + ch) * hw
            let dx = dinp + (b * c + ch) * hw
            for i in 0..<hw {
                sumDy += Double(dy[i])
                sumDyXhat += Double(dy[i]) * Double((x[i] - runningMean[ch]) * r)
                dx[i] = dy[i] * gamma[ch] * r
            }
        }
        dgamma[ch] += Float(sumDyXhat)
        dbeta[ch] += Float(sumDy)
    }
}
