import ImagingCore

/// The decided-corner fast path for an axis-aligned index map (the native axes map onto the
/// profile axes one to one: every axial scan whose profile keeps its orientation), where a
/// voxel's profile x depends on i alone, y on j alone and z on k alone.
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
        }
    }

    /// Whether the map moves each profile axis along one native axis only.
    static func isAligned(_ map: Map) -> Bool {
        map.di.y == 0 && map.di.z == 0 && map.dj.x == 0 && map.dj.z == 0 && map.dk.x == 0 && map.dk.y == 0
    }

    /// The three axes' samples of an aligned map over the native shape `s`, built from the
    /// same additions as the incremental stepping (x: origin, then += di per i; y: += dj per j;
    /// z: origin + k · dk).
    static func alignedSamples(_ map: Map, nativeShape s: [Int], profileShape t: [Int]) -> (AxisSamples, AxisSamples, AxisSamples) {
        var xs: [Double] = [], ys: [Double] = [], zs: [Double] = []
        var x = map.origin.x + Double(0) * map.dk.x
        for _ in 0..<s[0] { xs.append(x); x += map.di.x }
        var y = map.origin.y + Double(0) * map.dk.y
        for _ in 0..<s[1] { ys.append(y); y += map.dj.y }
        for k in 0..<s[2] { zs.append(map.origin.z + Double(k) * map.dk.z) }
        return (AxisSamples(xs, size: t[0]), AxisSamples(ys, size: t[1]), AxisSamples(zs, size: t[2]))
    }

    /// One native slice `k` of an aligned map with a `decided` table (see `argmaxSlice`).
    static func alignedSlice(_ k: Int, axes: (x: AxisSamples, y: AxisSamples, z: AxisSamples), profileShape t: [Int],
                             window: SliceWindow, channels ca: Int, ids: [Int32], probs: UnsafePointer<Float>,
                             background: UnsafePointer<Float>, decided: UnsafePointer<Int16>,
                             nativeShape s: [Int], out: UnsafeMutablePointer<Int32>) {
        let nx = s[0], ny = s[1]
        var o = k * nx * ny
        guard axes.z.inside[k] else {
            (out + o).update(repeating: 0, count: nx * ny)
            return
        }
        let w = window.width, h = window.height
        let k0 = axes.z.lower[k], k1 = axes.z.upper[k], fz = axes.z.fraction[k]
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
        // Per profile column: the verdict shared by its corners in rows j0, j1 (and slice k1), or -1.
        var agree = [Int16](repeating: -1, count: t[0])
        var rows = (-1, -1)
        let xs = axes.x, ys = axes.y
        for j in 0..<ny {
            guard ys.inside[j] else {
                (out + o).update(repeating: 0, count: nx)
                o += nx
                continue
            }
            let j0 = ys.lower[j], j1 = ys.upper[j], fy = ys.fraction[j]
            if rows != (j0, j1) {
                rows = (j0, j1)
                for c in 0..<t[0] {
                    let v = verdict(c, j0, k0)
                    agree[c] = v >= 0 && verdict(c, j1, k0) == v
                        && (fz == 0 || (verdict(c, j0, k1) == v && verdict(c, j1, k1) == v)) ? v : -1
                }
            }
            for i in 0..<nx {
                defer { o += 1 }
                guard xs.inside[i] else {
                    out[o] = 0
                    continue
                }
                let i0 = xs.lower[i], i1 = xs.upper[i]
                let v = agree[i0]
                if v >= 0 && agree[i1] == v {
                    out[o] = ids[Int(v)]
                    continue
                }
                let fx = xs.fraction[i]
                let q000 = run(i0, j0, k0), q100 = run(i1, j0, k0), q010 = run(i0, j1, k0), q110 = run(i1, j1, k0)
                var best: Float = -.infinity
                var bestA = 0
                if fz == 0 {
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
            }
        }
    }
}
