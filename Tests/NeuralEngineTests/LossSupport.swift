#if canImport(Glibc)
import Glibc
#endif
@testable import NeuralEngine

/// A small batch for the partial-label losses: logits, targets and per-image label info.
struct LossCase {
    var shape: TensorShape
    var logits: Buf
    var target: [Int32]
    var info: [ImageLabelInfo]

    /// Runs a loss; dlogits starts filled with 7 so a loss that does not overwrite it fails.
    func run(_ loss: some SegmentationLoss) -> (value: Double, grad: [Float]) {
        let d = Buf(shape.count, fill: 7)
        let v = target.withUnsafeBufferPointer {
            loss.loss(logits: logits.c, target: $0.baseAddress!, info: info, shape: shape, dlogits: d.p)
        }
        return (v, d.array)
    }

    func value(_ loss: some SegmentationLoss) -> Double { run(loss).value }

    /// A random batch of 2 images (C = 5, 3×4): image 0 annotates channels 1 and 3 and has super
    /// labels {2,4} (value 5) and {1,2} (value 6); image 1 is fully annotated with super label
    /// {3,4} (value 5). Targets include ignored pixels (−1). Each pixel's two largest logits are
    /// at least 0.2 apart, so finite differences never cross an argmax tie.
    static func random(seed: UInt64) -> LossCase {
        let shape = TensorShape(n: 2, c: 5, h: 3, w: 4)
        let hw = shape.h * shape.w
        let logits = Buf(random: shape.count, seed: seed, scale: 2)
        var rng = SeededGenerator(seed: seed &+ 1)
        let info = [
            ImageLabelInfo.partial(channels: 5, annotatedForeground: [1, 3], superLabels: [[2, 4], [1, 2]]),
            ImageLabelInfo(annotated: nil, superLabels: [[3, 4]]),
        ]
        var target = [Int32](repeating: 0, count: shape.n * hw)
        for b in 0..<shape.n {
            let values = UInt64(shape.c + info[b].superLabels.count + 1)
            for p in 0..<hw { target[b * hw + p] = Int32(rng.next() % values) - 1 }
        }
        separateTopTwo(logits, shape: shape, gap: 0.2)
        return LossCase(shape: shape, logits: logits, target: target, info: info)
    }
}

/// Raises each pixel's largest logit until it leads the runner-up by at least `gap`.
func separateTopTwo(_ logits: Buf, shape: TensorShape, gap: Float) {
    let hw = shape.h * shape.w
    for b in 0..<shape.n {
        for p in 0..<hw {
            let base = b * shape.c * hw + p
            let order = (0..<shape.c).sorted { logits.p[base + $0 * hw] > logits.p[base + $1 * hw] }
            let top = logits.p[base + order[0] * hw], second = logits.p[base + order[1] * hw]
            if top - second < gap { logits.p[base + order[0] * hw] = second + gap }
        }
    }
}

/// Central differences with the step actually taken in Float ((x+h) − (x−h)), losses in Double.
func lossGradientError(_ loss: some SegmentationLoss, _ lc: LossCase, step: Float = 1e-3) -> (error: Double, scale: Double) {
    let analytic = lc.run(loss).grad
    var numeric: [Double] = []
    for i in 0..<lc.shape.count {
        let saved = lc.logits.p[i]
        let up = saved + step, down = saved - step
        lc.logits.p[i] = up
        let plus = lc.value(loss)
        lc.logits.p[i] = down
        let minus = lc.value(loss)
        lc.logits.p[i] = saved
        numeric.append((plus - minus) / (Double(up) - Double(down)))
    }
    let scale = numeric.map(abs).max() ?? 0
    return (relativeError(analytic.map(Double.init), numeric, floor: 1e-6), scale)
}

/// Logits from per-pixel channel vectors: `pixels[p]` is pixel p's logits (one image, H = 1).
func logitsBuf(_ pixels: [[Float]]) -> (Buf, TensorShape) {
    let c = pixels[0].count, hw = pixels.count
    let buf = Buf(c * hw)
    for p in 0..<hw { for j in 0..<c { buf.p[j * hw + p] = pixels[p][j] } }
    return (buf, TensorShape(n: 1, c: c, h: 1, w: hw))
}

/// Softmax of one vector, in Double.
func softmax(_ x: [Float]) -> [Double] {
    let m = Double(x.max()!)
    let e = x.map { exp(Double($0) - m) }
    let s = e.reduce(0, +)
    return e.map { $0 / s }
}
