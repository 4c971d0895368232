import ImagingCore

/// The decided-corner fast path for an axis-aligned index map (native i and j move one
/// in-plane profile axis each, in either order, and k the profile slice axis: every scan whose
/// slices are axial, since the profile grid is the scan's own grid reoriented), where a voxel's
/// profile coordinates each depend on one native index.
///
/// The per-axis sample positions are the same doubles the incremental stepping of
/// `argmaxSlice` produces (the off-axis steps are exact zeros, which add nothing), so the
/// cells, fractions and labels are identical; what changes is that they are computed once per
/// axis index, and that the corner verdicts of a pair of profile rows are combined once per
/// pair (`agree`) instead of once per voxel.
extension NativeArgmax {
    /// Sampling along one axis: for each native index, the lower and upper profile index, the
    /// fraction, and whether the centre lies inside the profile grid (`[-0.5, t - 0.5)`).
    struct AxisSamples: Sendable {
        var lower: [Int] = []
        var upper: [Int] = []
        var fraction: [Float] = []
        var inside: [Bool] = []
        /// The first index of every run of consecutive indices with the same `inside` and
        /// `lower` (so the same profile cell), then the number of indices.
        var runs: [Int] = []

        /// As `argmaxSlice` clamps and splits a continuous index `v` on an axis of `t` voxels.
        init(_ values: [Double], size t: Int) {
            let bound = Double(t) - 0.5, last = Double(t - 1), lastBase = max(t - 2, 0), step = t > 1 ? 1 : 0
            for v in values {
                inside.append(v >= -0.5 && v < bound)
                let x = min(max(v, 0), last)
                let i0 = min(Int(x), lastBase)
                lower.append(i0)
                upper.append(i0 + step)
                fraction.append(Float(x - Double(i0)))
            }
            for n in values.indices where n == 0 || inside[n] != inside[n - 1] || lower[n] != lower[n - 1] { runs.append(n) }
            runs.append(values.count)
        }
    }

    /// For an aligned map, whether native i moves profile y and j moves x (`true`) or i moves
    /// x and j moves y (`false`); nil when the map is not aligned: each of i and j must move one
    /// in-plane profile axis only and k the profile slice axis only.
    static func alignment(_ map: Map) -> Bool? {
        guard map.dk.x == 0 && map.dk.y == 0 && map.di.z == 0 && map.dj.z == 0 else { return nil }
        if map.di.y == 0 && map.dj.x == 0 { return false }
        if map.di.x == 0 && map.dj.y == 0 { return true }
        return nil
    }

    static func isAligned(_ map: Map) -> Bool { alignment(map) != nil }

    /// The samples along native i, j and k of an aligned map (`swapped` as `alignment`), built
    /// from the same additions as the incremental stepping: the axis i moves starts at its
    /// origin and adds di per i, the axis j moves adds dj per j, z is origin + k · dk (the other
    /// steps are exact zeros and add nothing).
    static func alignedSamples(_ map: Map, swapped: Bool, nativeShape s: [Int], profileShape t: [Int]) -> (AxisSamples, AxisSamples, AxisSamples) {
        let (ai, aj) = swapped ? (1, 0) : (0, 1)
        var iv: [Double] = [], jv: [Double] = [], kv: [Double] = []
        var x = map.origin[ai] + Double(0) * map.dk[ai]
        for _ in 0..<s[0] { iv.append(x); x += map.di[ai] }
        var y = map.origin[aj] + Double(0) * map.dk[aj]
        for _ in 0..<s[1] { jv.append(y); y += map.dj[aj] }
        for k in 0..<s[2] { kv.append(map.origin.z + Double(k) * map.dk.z) }
        return (AxisSamples(iv, size: t[ai]), AxisSamples(jv, size: t[aj]), AxisSamples(kv, size: t[2]))
    }

    /// One native slice `k` of an aligned map with a `decided` table (see `argmaxSlice`):
    /// `axes` are the samples along native i, j, k; `swapped` says i moves profile y.
    ///
    /// First the verdict of every profile cell of the slice pair (k0, k1): the verdict its 4
    /// corners share (8 when fz != 0), else -1, in a table laid out like the native slice (the
    /// profile axis native i moves fastest). Then the native voxels in storage order, so the
    /// labels are written contiguously whatever the scan's layout: a decided cell's voxel takes
    /// its channel, the others interpolate their corner runs.
    static func alignedSlice(_ k: Int, axes: (i: AxisSamples, j: AxisSamples, k: AxisSamples), swapped: Bool, profileShape t: [Int],
                             window: SliceWindow, channels ca: Int, ids: [Int32], probs: UnsafePointer<Float>,
                             background: UnsafePointer<Float>, decided: UnsafePointer<Int16>,
                             nativeShape s: [Int], out: UnsafeMutablePointer<Int32>) {
        let nx = s[0], ny = s[1]
        let base = out + k * nx * ny
        guard axes.k.inside[k] else {
            base.update(repeating: 0, count: nx * ny)
            return
        }
        let w = window.width, h = window.height
        let k0 = axes.k.lower[k], k1 = axes.k.upper[k], fz = axes.k.fraction[k]
        let t0 = t[0], t1 = t[1]
        @inline(__always) func run(_ i: Int, _ j: Int, _ z: Int) -> UnsafePointer<Float> {
            let x = i - window.offsetX, y = j - window.offsetY
            guard x >= 0, x < w, y >= 0, y < h else { return background }
            return probs + ((z * h + y) * w + x) * ca
        }
        @inline(__always) func verdict(_ i: Int, _ j: Int, _ z: Int) -> Int16 {
            let x = i - window.offsetX, y = j - window.offsetY
            guard x >= 0, x < w, y >= 0, y < h else { return 0 }
            return decided[(z * h + y) * w + x]
        }
        // Cell (u, v) (lower corner on profile x, y) at u * t1 + v when swapped, else v * t0 + u.
        let sx = t0 > 1 ? 1 : 0, sy = t1 > 1 ? 1 : 0
        let (cellStrideU, cellStrideV) = swapped ? (t1, 1) : (1, t0)
        withUnsafeTemporaryAllocation(of: Int16.self, capacity: t0 * t1 + t0) { buffer in
            let cells = buffer.baseAddress!, pair = cells + t0 * t1
            for v in 0..<t1 {
                let v1 = min(v + sy, t1 - 1)
                // Verdict shared by column u's corners in rows v and v1 (slices k0 and k1), or -1.
                for u in 0..<t0 {
                    let a = verdict(u, v, k0)
                    pair[u] = a >= 0 && verdict(u, v1, k0) == a
                        && (fz == 0 || (verdict(u, v, k1) == a && verdict(u, v1, k1) == a)) ? a : -1
                }
                for u in 0..<t0 {
                    let a = pair[u]
                    cells[u * cellStrideU + v * cellStrideV] = a >= 0 && pair[min(u + sx, t0 - 1)] == a ? a : -1
                }
            }
            // Native i moves profile y (swapped) or x; j the other.
            let (xs, ys) = swapped ? (axes.j, axes.i) : (axes.i, axes.j)
            xs.lower.withUnsafeBufferPointer { xl in
            xs.upper.withUnsafeBufferPointer { xu in
            xs.fraction.withUnsafeBufferPointer { xf in
            ys.lower.withUnsafeBufferPointer { yl in
            ys.upper.withUnsafeBufferPointer { yu in
            ys.fraction.withUnsafeBufferPointer { yf in
            axes.i.inside.withUnsafeBufferPointer { iInside in
            axes.i.lower.withUnsafeBufferPointer { iLower in
            axes.i.runs.withUnsafeBufferPointer { iRuns in
                let iStride = swapped ? cellStrideV : cellStrideU, jStride = swapped ? cellStrideU : cellStrideV
                for j in 0..<ny {
                    let row = base + j * nx
                    guard axes.j.inside[j] else {
                        row.update(repeating: 0, count: nx)
                        continue
                    }
                    let rowCells = cells + axes.j.lower[j] * jStride
                    // The voxels of a run along i share their profile cell (and whether they lie
                    // inside): outside or decided, the whole run takes one value at once.
                    for r in 0..<(iRuns.count - 1) {
                        let lo = iRuns[r], hi = iRuns[r + 1]
                        guard iInside[lo] else {
                            (row + lo).update(repeating: 0, count: hi - lo)
                            continue
                        }
                        let a = rowCells[iLower[lo] * iStride]
                        if a >= 0 {
                            (row + lo).update(repeating: ids[Int(a)], count: hi - lo)
                            continue
                        }
                        for i in lo..<hi {
                            let (xi, yi) = swapped ? (j, i) : (i, j)
                            let x0 = xl[xi], x1 = xu[xi], fx = xf[xi], y0 = yl[yi], y1 = yu[yi], fy = yf[yi]
                            let q000 = run(x0, y0, k0), q100 = run(x1, y0, k0), q010 = run(x0, y1, k0), q110 = run(x1, y1, k0)
                            let bestA = fz == 0
                                ? bilinearArgmax(q000, q100, q010, q110, fx: fx, fy: fy, channels: ca)
                                : trilinearArgmax(q000, q100, q010, q110, run(x0, y0, k1), run(x1, y0, k1), run(x0, y1, k1), run(x1, y1, k1),
                                                  fx: fx, fy: fy, fz: fz, channels: ca)
                            row[i] = ids[bestA]
                        }
                    }
                }
            }}}}}}}}}
        }
    }

    /// The first channel with the largest bilinear value: `argmaxSlice`'s lerps, 8 channels at
    /// a time (the same IEEE operations per lane, no fused multiply-add), then the scalar scan.
    @inline(__always)
    static func bilinearArgmax(_ q000: UnsafePointer<Float>, _ q100: UnsafePointer<Float>, _ q010: UnsafePointer<Float>,
                               _ q110: UnsafePointer<Float>, fx: Float, fy: Float, channels ca: Int) -> Int {
        var best: Float = -.infinity
        var bestA = 0
        var a = 0
        let vx = SIMD8<Float>(repeating: fx), vy = SIMD8<Float>(repeating: fy)
        @inline(__always) func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p + a).loadUnaligned(as: SIMD8<Float>.self) }
        while a + 8 <= ca {
            let v000 = load(q000), v100 = load(q100), v010 = load(q010), v110 = load(q110)
            let c00 = v000 + vx * (v100 - v000), c10 = v010 + vx * (v110 - v010)
            let v = c00 + vy * (c10 - c00)
            for l in 0..<8 where v[l] > best { best = v[l]; bestA = a + l }
            a += 8
        }
        while a < ca {
            let v000 = q000[a], v100 = q100[a], v010 = q010[a], v110 = q110[a]
            let c00 = v000 + fx * (v100 - v000), c10 = v010 + fx * (v110 - v010)
            let v = c00 + fy * (c10 - c00)
            if v > best { best = v; bestA = a }
            a += 1
        }
        return bestA
    }

    /// The first channel with the largest trilinear value, as `bilinearArgmax`.
    @inline(__always)
    static func trilinearArgmax(_ q000: UnsafePointer<Float>, _ q100: UnsafePointer<Float>, _ q010: UnsafePointer<Float>,
                                _ q110: UnsafePointer<Float>, _ q001: UnsafePointer<Float>, _ q101: UnsafePointer<Float>,
                                _ q011: UnsafePointer<Float>, _ q111: UnsafePointer<Float>,
                                fx: Float, fy: Float, fz: Float, channels ca: Int) -> Int {
        var best: Float = -.infinity
        var bestA = 0
        var a = 0
        let vx = SIMD8<Float>(repeating: fx), vy = SIMD8<Float>(repeating: fy), vz = SIMD8<Float>(repeating: fz)
        @inline(__always) func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p + a).loadUnaligned(as: SIMD8<Float>.self) }
        while a + 8 <= ca {
            let v000 = load(q000), v100 = load(q100), v010 = load(q010), v110 = load(q110)
            let v001 = load(q001), v101 = load(q101), v011 = load(q011), v111 = load(q111)
            let c00 = v000 + vx * (v100 - v000), c10 = v010 + vx * (v110 - v010)
            let c01 = v001 + vx * (v101 - v001), c11 = v011 + vx * (v111 - v011)
            let c0 = c00 + vy * (c10 - c00), c1 = c01 + vy * (c11 - c01)
            let v = c0 + vz * (c1 - c0)
            for l in 0..<8 where v[l] > best { best = v[l]; bestA = a + l }
            a += 8
        }
        while a < ca {
            let v000 = q000[a], v100 = q100[a], v010 = q010[a], v110 = q110[a]
            let v001 = q001[a], v101 = q101[a], v011 = q011[a], v111 = q111[a]
            let c00 = v000 + fx * (v100 - v000), c10 = v010 + fx * (v110 - v010)
            let c01 = v001 + fx * (v101 - v001), c11 = v011 + fx * (v111 - v011)
            let c0 = c00 + fy * (c10 - c00), c1 = c01 + fy * (c11 - c01)
            let v = c0 + fz * (c1 - c0)
            if v > best { best = v; bestA = a }
            a += 1
        }
        return bestA
    }
}
