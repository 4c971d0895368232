#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import ImagingCore
import Resampling

/// One-hot interior (`SliceInference.run(…, oneHotInterior:)`): the softmax is computed only
/// where `NativeArgmax` can read it.
///
/// `NativeArgmax.labels` reads a profile pixel's probabilities only as a corner of a cell whose
/// corners are not all decided for one channel (docs/segmentation.md, "decided corners"). A
/// pixel that is decided and whose neighbours (the 8 around it in its slice and the 9 in each
/// neighbour slice that some native voxel interpolates it with, `slicePairsInterpolated`;
/// outside the window counts as background) are all decided for the same channel is a corner of uniform
/// cells only, so its values are never read: it is stored one-hot for its channel, which
/// `decisions` gives the same verdict, and which every reference twin turns into the same label
/// as the true softmax would (the convex-combination argument holds for a lead of 1 as for one
/// of 1e-4). All other pixels get the softmax bit for bit (`referenceSoftmax`'s operations).
///
/// "Decided" is judged here from the logits, before any exponential: the top two allowed
/// logits (all finite) must differ by at least `logitLead(channels:)`, which guarantees a
/// softmax lead of at least twice `NativeArgmax.decisiveMargin` (see there); the verdicts
/// handed over are then recomputed from the stored values, so they equal
/// `NativeArgmax.decisions` of the data exactly (tested).
extension SliceInference {
    /// The smallest logit gap L (top allowed logit minus the runner-up) for which the softmax
    /// lead p₁ − p₂ ≥ (1 − e^−L) / (1 + (Ca − 1) e^−L) (the other Ca − 2 channels at most at the
    /// runner-up) is at least 2 · `NativeArgmax.decisiveMargin`, by bisection in Double, plus 1 %.
    /// The factor 2 leaves room for the float rounding of the softmax itself (a few ulp).
    static func logitLead(channels ca: Int) -> Double {
        let target = 2 * Double(NativeArgmax.decisiveMargin)
        func lead(_ l: Double) -> Double { (1 - exp(-l)) / (1 + Double(max(ca - 1, 0)) * exp(-l)) }
        var lo = 0.0, hi = 1.0
        while lead(hi) < target { hi *= 2 }
        for _ in 0..<100 {
            let mid = (lo + hi) / 2
            if lead(mid) < target { lo = mid } else { hi = mid }
        }
        return hi * 1.01
    }

    /// The share of logit-decided pixels (see `gatherLogits`) below which `run` keeps the
    /// plain softmax even when asked for the one-hot interior.
    static let oneHotMinimumDecidedShare = 0.75

    /// The share of pixels of `slices` images' logits (N, C, HW) that `gatherLogits` would
    /// decide, from every 7th pixel (a speed choice only: either way the labels are the same).
    static func decidedShare(_ logits: UnsafePointer<Float>, slices n: Int, channels c: Int, pixels hw: Int, allowed: [Int],
                             lead: Double) -> Double {
        var decided = 0, seen = 0
        var pixel = [Float](repeating: 0, count: allowed.count)
        pixel.withUnsafeMutableBufferPointer { q in
            for b in 0..<n {
                let image = logits + b * c * hw
                for p in stride(from: 0, to: hw, by: 7) {
                    for (a, channel) in allowed.enumerated() { q[a] = image[channel * hw + p] }
                    if logitVerdict(q.baseAddress!, channels: allowed.count, lead: lead) >= 0 { decided += 1 }
                    seen += 1
                }
            }
        }
        return seen == 0 ? 0 : Double(decided) / Double(seen)
    }

    /// Copies `pixels` pixels' allowed logits (channel `a` at `logits + allowed[a] * planeStride`)
    /// channel-last into `out`, with each pixel's logit verdict: the first top channel when all
    /// its logits are finite and the gap to the runner-up is at least `lead`, else -1.
    static func gatherLogits(_ logits: UnsafePointer<Float>, planeStride: Int, pixels hw: Int, allowed: [Int], lead: Double,
                             out: UnsafeMutablePointer<Float>, verdicts: UnsafeMutablePointer<Int16>) {
        let ca = allowed.count, block = 64
        allowed.withUnsafeBufferPointer { al in
            var p0 = 0
            while p0 < hw {
                let n = min(block, hw - p0)
                let o = out + p0 * ca
                for a in 0..<ca {
                    let row = logits + al[a] * planeStride + p0
                    for i in 0..<n { o[i * ca + a] = row[i] }
                }
                for i in 0..<n { verdicts[p0 + i] = logitVerdict(o + i * ca, channels: ca, lead: lead) }
                p0 += n
            }
        }
    }

    /// The logit verdict of one pixel's `ca` contiguous allowed logits: the first top channel when
    /// all are finite and the gap to the runner-up is at least `lead`, else -1.
    @inline(__always)
    static func logitVerdict(_ q: UnsafePointer<Float>, channels ca: Int, lead: Double) -> Int16 {
        let t = NativeArgmax.topTwo(q, channels: ca) { $0.isFinite }
        return t.valid && Double(t.best) - Double(t.second) >= lead ? Int16(t.index) : -1
    }

    /// Turns the gathered logits into what `run` hands over (see the extension's note): the
    /// softmax where a pixel or one of its neighbours is undecided or decided otherwise, one-hot
    /// elsewhere; then `verdicts` become `NativeArgmax.decisions` of the result.
    static func settleInterior(_ data: UnsafeMutablePointer<Float>, verdicts: UnsafeMutablePointer<Int16>, slices nz: Int,
                               window: SliceWindow, channels ca: Int, pairs: [Bool]) {
        let w = window.width, h = window.height, hw = w * h
        // Read-only logit verdicts while the slices are settled in parallel.
        let logitVerdicts = [Int16](UnsafeBufferPointer(start: verdicts, count: nz * hw))
        logitVerdicts.withUnsafeBufferPointer { lv in
            let l = SendableBuffer(base: UnsafeMutablePointer(mutating: lv.baseAddress!))
            let d = SendableBuffer(base: data), v = SendableBuffer(base: verdicts)
            DispatchQueue.concurrentPerform(iterations: nz) { k in
                let lv = UnsafePointer(l.base)
                // Verdict of (x, y) in slice z; outside the window, background.
                @inline(__always) func at(_ x: Int, _ y: Int, _ z: Int) -> Int16 {
                    guard x >= 0, x < w, y >= 0, y < h else { return 0 }
                    return lv[z * hw + y * w + x]
                }
                // This slice, and the neighbour slices it is interpolated with.
                let zs = (k > 0 && pairs[k - 1] ? [k - 1] : []) + [k] + (k + 1 < nz && pairs[k] ? [k + 1] : [])
                for y in 0..<h {
                    for x in 0..<w {
                        let n = k * hw + y * w + x
                        let q = d.base + n * ca
                        let mine = lv[n]
                        var interior = mine >= 0
                        if interior {
                            search: for z in zs {
                                for dy in -1...1 {
                                    for dx in -1...1 where at(x + dx, y + dy, z) != mine {
                                        interior = false
                                        break search
                                    }
                                }
                            }
                        }
                        if interior {
                            q.update(repeating: 0, count: ca)
                            q[Int(mine)] = 1
                            v.base[n] = mine
                            continue
                        }
                        // referenceSoftmax's operations on this pixel's logits.
                        var mx = -Float.infinity
                        for a in 0..<ca { mx = max(mx, q[a]) }
                        var sum: Float = 0
                        for a in 0..<ca {
                            let e = expf(q[a] - mx)
                            q[a] = e
                            sum += e
                        }
                        let inv = 1 / sum
                        for a in 0..<ca { q[a] *= inv }
                        v.base[n] = NativeArgmax.verdict(UnsafePointer(q), channels: ca)
                    }
                }
            }
        }
    }
}

extension NativeArgmax {
    /// For each profile slice k0, whether some native voxel of `transform` interpolates between
    /// profile slices k0 and k0 + 1 (fz != 0 in `argmaxSlice`, where the cell's upper corners are
    /// read). With kept slice spacing only the clamped last pair is (fz = 1 on the last slice);
    /// when a native slice is not one profile z (oblique stacks) every pair counts.
    static func slicePairsInterpolated(_ transform: ProfileTransform) -> [Bool] {
        let map = indexMap(transform)
        let t = transform.targetGrid.shape[2]
        var pairs = [Bool](repeating: false, count: t)
        guard map.di.z == 0 && map.dj.z == 0 else { return [Bool](repeating: t > 1, count: t) }
        let last = Double(t - 1), lastBase = max(t - 2, 0)
        for k in 0..<transform.sourceGrid.shape[2] {
            let z = min(max(map.origin.z + Double(k) * map.dk.z, 0), last)
            let k0 = min(Int(z), lastBase)
            if t > 1 && Float(z - Double(k0)) != 0 { pairs[k0] = true }
        }
        return pairs
    }
}
