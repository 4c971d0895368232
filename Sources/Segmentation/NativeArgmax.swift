import Dispatch
import ImagingCore
import Resampling

/// Brings window probabilities back to the native grid fused with the argmax: at each native
/// voxel centre the allowed channels' probabilities are interpolated trilinearly from the
/// profile grid and the channel with the largest value wins (first on ties). No native
/// probability volume is ever built: C channels of 512 × 512 × 32 floats would be 32 MB each.
///
/// The sampling is exactly Resampling's `ProfileTransform.toNative(ChannelVolume)` (same index
/// map with 1e-9 snapping, same incremental stepping, same clamping at the edge and same lerp
/// order), on a profile volume that is certain background (`[1, 0, …]`) outside the window, so
/// the labels equal the unfused "resample every channel, then argmax" bit for bit
/// (`unfusedReference`, tested).
///
/// Fast path (`labels`): every profile pixel whose winning channel leads the runner-up by at
/// least `decisiveMargin` is "decided" (one pass over the probabilities). A native voxel whose
/// 4 (or 8, when it interpolates between profile slices) corners are all decided for the same
/// channel takes that channel without interpolating: trilinear weights are convex, so the
/// exact interpolated lead is at least the margin, far above the float rounding of the lerps
/// (< 50 ulp of 1, docs/segmentation.md). Outside the window every corner is decided for
/// background. Only voxels near a class boundary run the channel loop. For an axis-aligned
/// index map the per-axis cells and the corner verdicts of profile row pairs are computed once
/// (NativeArgmaxAligned.swift). `fusedReference` is the same code without the shortcut; both
/// are tested equal to `unfusedReference`.
public enum NativeArgmax {
    /// Lead of the winning channel over the runner-up above which a profile pixel is decided:
    /// 1e-4, about 1700 ulp of 1, against at most ~40 ulp of rounding per interpolated value.
    public static let decisiveMargin: Float = 1e-4

    /// Catalog-id labels on `transform.sourceGrid` (the native grid), with the decided-corner
    /// shortcut. Identical to `fusedReference` and `unfusedReference`.
    public static func labels(_ probs: WindowProbabilities, window: SliceWindow, transform: ProfileTransform) -> LabelVolume {
        let decided = probs.verdicts ?? decisions(probs)
        return decided.withUnsafeBufferPointer { run(probs, window: window, transform: transform, decided: $0.baseAddress!) }
    }

    /// The same labels, interpolating every channel at every native voxel (the reference twin
    /// of `labels`, used in tests).
    public static func fusedReference(_ probs: WindowProbabilities, window: SliceWindow, transform: ProfileTransform) -> LabelVolume {
        run(probs, window: window, transform: transform, decided: nil)
    }

    /// Per window pixel of every profile slice, `(k * H + y) * W + x`: the winning channel
    /// when it leads every other by at least `decisiveMargin` and all values lie in [0, 1],
    /// else -1 (ties, near ties, NaN or values a softmax cannot produce).
    static func decisions(_ probs: WindowProbabilities) -> [Int16] {
        let ca = probs.channelCount, plane = probs.height * probs.width
        precondition(ca < Int(Int16.max), "NativeArgmax: too many channels")
        return [Int16](unsafeUninitializedCapacity: probs.slices * plane) { dst, count in
            probs.data.withUnsafeBufferPointer { p in
                let src = SendableBuffer(base: UnsafeMutablePointer(mutating: p.baseAddress!))
                let d = SendableBuffer(base: dst.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: probs.slices) { k in
                    for n in (k * plane)..<((k + 1) * plane) {
                        d.base[n] = verdict(UnsafePointer(src.base) + n * ca, channels: ca)
                    }
                }
            }
            count = probs.slices * plane
        }
    }

    /// The verdict of one pixel's `ca` channel values (see `decisions`).
    @inline(__always)
    static func verdict(_ q: UnsafePointer<Float>, channels ca: Int) -> Int16 {
        let t = topTwo(q, channels: ca) { $0 >= 0 && $0 <= 1 }
        return t.valid && t.best - t.second >= decisiveMargin ? Int16(t.index) : -1
    }

    /// The first channel with the largest of `ca` contiguous values, that value and the
    /// runner-up's, and whether every value passes `isValid` (the verdicts' shared scan; they
    /// differ in what is valid and in the margin).
    @inline(__always)
    static func topTwo(_ q: UnsafePointer<Float>, channels ca: Int, isValid: (Float) -> Bool)
        -> (index: Int, best: Float, second: Float, valid: Bool) {
        var best = -Float.infinity, second = -Float.infinity, index = 0
        var valid = true
        for a in 0..<ca {
            let v = q[a]
            if !isValid(v) { valid = false }
            if v > best {
                second = best
                best = v
                index = a
            } else if v > second {
                second = v
            }
        }
        return (index, best, second, valid)
    }

    /// Shared driver: the index map, then one native slice per iteration in parallel.
    static func run(_ probs: WindowProbabilities, window: SliceWindow, transform: ProfileTransform,
                    decided: UnsafePointer<Int16>?) -> LabelVolume {
        let target = transform.targetGrid, native = transform.sourceGrid
        precondition(probs.slices == target.shape[2] && probs.width == window.width && probs.height == window.height,
                     "NativeArgmax: probabilities do not match the profile grid and window")
        let map = indexMap(transform)
        let ca = probs.channelCount
        var background = [Float](repeating: 0, count: ca)
        background[0] = 1
        let ids = probs.channelIDs
        let shape = native.shape
        let table = decided.map { SendableBuffer(base: UnsafeMutablePointer(mutating: $0)) }
        let out = [Int32](unsafeUninitializedCapacity: native.voxelCount) { dst, count in
            probs.data.withUnsafeBufferPointer { p in
                background.withUnsafeBufferPointer { bg in
                    let src = SendableBuffer(base: UnsafeMutablePointer(mutating: p.baseAddress!))
                    let bgp = SendableBuffer(base: UnsafeMutablePointer(mutating: bg.baseAddress!))
                    let d = SendableBuffer(base: dst.baseAddress!)
                    if let table, let swapped = alignment(map) {
                        let axes = alignedSamples(map, swapped: swapped, nativeShape: shape, profileShape: target.shape)
                        DispatchQueue.concurrentPerform(iterations: shape[2]) { k in
                            alignedSlice(k, axes: axes, swapped: swapped, profileShape: target.shape, window: window, channels: ca, ids: ids,
                                         probs: UnsafePointer(src.base), background: UnsafePointer(bgp.base),
                                         decided: UnsafePointer(table.base), nativeShape: shape, out: d.base)
                        }
                        return
                    }
                    DispatchQueue.concurrentPerform(iterations: shape[2]) { k in
                        argmaxSlice(k, map: map, profileShape: target.shape, window: window, channels: ca, ids: ids,
                                    probs: UnsafePointer(src.base), background: UnsafePointer(bgp.base),
                                    decided: table.map { UnsafePointer($0.base) }, nativeShape: shape, out: d.base)
                    }
                }
            }
            count = native.voxelCount
        }
        return LabelVolume(grid: native, data: out)
    }

    /// The native → profile index map of `transform`, entries within 1e-9 of an integer snapped.
    static func indexMap(_ transform: ProfileTransform) -> Map {
        guard let inv = transform.targetGrid.affine.inverse else { preconditionFailure("NativeArgmax: singular profile affine") }
        let m = inv * transform.sourceGrid.affine
        func snap(_ v: Double) -> Double {
            let r = v.rounded()
            return abs(v - r) < 1e-9 ? r : v
        }
        func col(_ c: Int) -> SIMD3<Double> { SIMD3(snap(m[0, c]), snap(m[1, c]), snap(m[2, c])) }
        return Map(origin: col(3), di: col(0), dj: col(1), dk: col(2))
    }

    /// The native → profile continuous index map (column form of `profile⁻¹ · native`).
    struct Map: Sendable {
        var origin: SIMD3<Double>
        var di: SIMD3<Double>
        var dj: SIMD3<Double>
        var dk: SIMD3<Double>
    }

    /// One native slice `k`: for each voxel, the trilinear cell on the profile grid (clamped as
    /// Resampling clamps); with a `decided` table, the shared decided channel of its corners
    /// when there is one; else the 8 corner channel runs (the background vector outside the
    /// window) and the argmax of the interpolated values.
    static func argmaxSlice(_ k: Int, map: Map, profileShape t: [Int], window: SliceWindow, channels ca: Int, ids: [Int32],
                            probs: UnsafePointer<Float>, background: UnsafePointer<Float>, decided: UnsafePointer<Int16>?,
                            nativeShape s: [Int], out: UnsafeMutablePointer<Int32>) {
        let nx = s[0], ny = s[1]
        let upper = SIMD3(Double(t[0]) - 0.5, Double(t[1]) - 0.5, Double(t[2]) - 0.5)
        let last = SIMD3(Double(t[0] - 1), Double(t[1] - 1), Double(t[2] - 1))
        let lastBase = SIMD3(max(t[0] - 2, 0), max(t[1] - 2, 0), max(t[2] - 2, 0))
        // Upper neighbour step per axis: 1, or 0 on an axis of one voxel.
        let step = SIMD3(t[0] > 1 ? 1 : 0, t[1] > 1 ? 1 : 0, t[2] > 1 ? 1 : 0)
        let w = window.width, h = window.height
        // Run of window pixel (x, y) of profile slice z, or the background vector.
        @inline(__always) func run(_ i: Int, _ j: Int, _ z: Int) -> UnsafePointer<Float> {
            let x = i - window.offsetX, y = j - window.offsetY
            guard x >= 0, x < w, y >= 0, y < h else { return background }
            return probs + ((z * h + y) * w + x) * ca
        }
        // Decided channel of window pixel (x, y) of profile slice z (background outside), or -1.
        @inline(__always) func verdict(_ table: UnsafePointer<Int16>, _ i: Int, _ j: Int, _ z: Int) -> Int16 {
            let x = i - window.offsetX, y = j - window.offsetY
            guard x >= 0, x < w, y >= 0, y < h else { return 0 }
            return table[(z * h + y) * w + x]
        }
        var row = map.origin + Double(k) * map.dk
        var o = k * nx * ny
        for _ in 0..<ny {
            var p = row
            for _ in 0..<nx {
                guard p.x >= -0.5 && p.x < upper.x && p.y >= -0.5 && p.y < upper.y && p.z >= -0.5 && p.z < upper.z else {
                    out[o] = 0  // outside the profile grid (cannot happen for a ProfileTransform): background
                    p += map.di
                    o += 1
                    continue
                }
                let x = min(max(p.x, 0), last.x), y = min(max(p.y, 0), last.y), z = min(max(p.z, 0), last.z)
                let i0 = min(Int(x), lastBase.x), j0 = min(Int(y), lastBase.y), k0 = min(Int(z), lastBase.z)
                let fx = Float(x - Double(i0)), fy = Float(y - Double(j0)), fz = Float(z - Double(k0))
                let i1 = i0 + step.x, j1 = j0 + step.y, k1 = k0 + step.z
                if let decided {
                    let v = verdict(decided, i0, j0, k0)
                    if v >= 0 && verdict(decided, i1, j0, k0) == v && verdict(decided, i0, j1, k0) == v
                        && verdict(decided, i1, j1, k0) == v
                        && (fz == 0 || (verdict(decided, i0, j0, k1) == v && verdict(decided, i1, j0, k1) == v
                                        && verdict(decided, i0, j1, k1) == v && verdict(decided, i1, j1, k1) == v)) {
                        out[o] = ids[Int(v)]
                        p += map.di
                        o += 1
                        continue
                    }
                }
                let q000 = run(i0, j0, k0), q100 = run(i1, j0, k0), q010 = run(i0, j1, k0), q110 = run(i1, j1, k0)
                var best: Float = -.infinity
                var bestA = 0
                if fz == 0 {
                    // c0 + 0 · (c1 - c0) == c0 exactly: the upper slice is not needed.
                    for a in 0..<ca {
                        let v000 = q000[a], v100 = q100[a], v010 = q010[a], v110 = q110[a]
                        let c00 = v000 + fx * (v100 - v000), c10 = v010 + fx * (v110 - v010)
                        let v = c00 + fy * (c10 - c00)
                        if v > best { best = v; bestA = a }
                    }
                } else {
                    let q001 = run(i0, j0, k1), q101 = run(i1, j0, k1), q011 = run(i0, j1, k1), q111 = run(i1, j1, k1)
                    for a in 0..<ca {
                        let v000 = q000[a], v100 = q100[a], v010 = q010[a], v110 = q110[a]
                        let v001 = q001[a], v101 = q101[a], v011 = q011[a], v111 = q111[a]
                        let c00 = v000 + fx * (v100 - v000), c10 = v010 + fx * (v110 - v010)
                        let c01 = v001 + fx * (v101 - v001), c11 = v011 + fx * (v111 - v011)
                        let c0 = c00 + fy * (c10 - c00), c1 = c01 + fy * (c11 - c01)
                        let v = c0 + fz * (c1 - c0)
                        if v > best { best = v; bestA = a }
                    }
                }
                out[o] = ids[bestA]
                p += map.di
                o += 1
            }
            row += map.dj
        }
    }
}
