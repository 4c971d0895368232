// Element-wise and channel-wise layers: ReLU, dropout, channel concatenation, softmax over channels.

/// ReLU forward. out, inp: (count) (may alias).
func reluForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { out[i] = inp[i] > 0 ? inp[i] : 0 }
}

/// ReLU backward from the forward's OUTPUT: dinp = dout where out > 0, else 0.
/// At the kink (input exactly 0) the gradient is 0, as in PyTorch. dinp may alias dout.
func reluBackward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, out: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { dinp[i] = out[i] > 0 ? dout[i] : 0 }
}

/// Inverted dropout forward in training mode: each element is kept with probability 1 - p and
/// scaled by 1 / (1 - p). out, inp: (count) (may alias); mask: (count), written (0 or the scale).
func dropoutForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, mask: UnsafeMutablePointer<Float>,
    count: Int, p: Float, rng: inout SeededGenerator
) {
    precondition(p >= 0 && p < 1, "dropout probability must be in [0, 1)")
    let scale = 1 / (1 - p)
    for i in 0..<count {
        mask[i] = rng.nextUnitFloat() < p ? 0 : scale
        out[i] = inp[i] * mask[i]
    }
}

/// Dropout backward: dinp = dout * mask. dinp may alias dout.
func dropoutBackward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, mask: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { dinp[i] = dout[i] * mask[i] }
}

/// Channel concatenation (the U-Net skip): out (N, Ca + Cb, HW) = [a (N, Ca, HW), b (N, Cb, HW)].
func concatForward(
    out: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    n: Int, ca: Int, cb: Int, hw: Int, workers: Int = 1
) {
    parallelFor(n, workers: workers) { i, _ in
        let dst = out + i * (ca + cb) * hw
        dst.update(from: a + i * ca * hw, count: ca * hw)
        (dst + ca * hw).update(from: b + i * cb * hw, count: cb * hw)
    }
}

/// Concatenation backward: da (N, Ca, HW) and db (N, Cb, HW) are overwritten with their halves
/// of dout (N, Ca + Cb, HW).
func concatBackward(
    da: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
    n: Int, ca: Int, cb: Int, hw: Int, workers: Int = 1
) {
    parallelFor(n, workers: workers) { i, _ in
        let src = dout + i * (ca + cb) * hw
        (da + i * ca * hw).update(from: src, count: ca * hw)
        (db + i * cb * hw).update(from: src + ca * hw, count: cb * hw)
    }
}

/// Softmax over channels, per pixel, stabilised by the channel maximum.
/// out, inp: (N, C, HW) (may alias).
func softmaxForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, n: Int, c: Int, hw: Int) {
    for b in 0..<n {
        let x = inp + b * c * hw
        let y = out + b * c * hw
        for p in 0..<hw {
            var mx = -Float.infinity
            for ch in 0..<c { mx = max(mx, x[ch * hw + p]) }
            var sum: Float = 0
            for ch in 0..<c {
                let e = expf(x[ch * hw + p] - mx)
                y[ch * hw + p] = e
                sum += e
            }
            let inv = 1 / sum
            for ch in 0..<c { y[ch * hw + p] *= inv }
        }
    }
}

/// Softmax backward from the forward's output: dx = y * (dy - sum_c y * dy).
/// dinp, dout, out: (N, C, HW); dinp may alias dout.
func softmaxBackward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, out: UnsafePointer<Float>, n: Int, c: Int, hw: Int) {
    for b in 0..<n {
        let y = out + b * c * hw
        let dy = dout + b * c * hw
        let dx = dinp + b * c * hw
        for p in 0..<hw {
            var dot: Float = 0
            for ch in 0..<c { dot += y[ch * hw + p] * dy[ch * hw + p] }
            for ch in 0..<c { dx[ch * hw + p] = y[ch * hw + p] * (dy[ch * hw + p] - dot) }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
