import ImagingCore

/// The target-to-source voxel index mapping of one resampling, as a single affine.
///
/// Convention (ImagingCore's, stated once): an affine maps an integer voxel index to the RAS
/// position of that voxel's *centre*; a voxel spans its index ± 0.5 along each axis. So the
/// continuous source index of target voxel `(i, j, k)` is `source.inverse * target * (i, j, k, 1)`,
/// and a point lies *inside* the source when every continuous index `x` satisfies
/// `-0.5 <= x < n - 0.5` (the union of the source voxels' extents).
///
/// Entries within 1e-9 of an integer are snapped to it, so identity maps, whole-voxel shifts,
/// flips and kept slice positions are exact instead of off by a rounding error of 1e-16 (which
/// would make a trilinear weight 1 - 1e-16 and a nearest neighbour tie flip).
struct IndexMap: Sendable {
    /// Continuous source index of target voxel (0, 0, 0).
    var origin: SIMD3<Double>
    /// Source-index step for one target voxel along i, j and k.
    var di: SIMD3<Double>
    var dj: SIMD3<Double>
    var dk: SIMD3<Double>

    /// The map from `target` voxel indices to `source` continuous indices.
    /// Traps when the source affine is singular (readers reject such files with `bad_geometry`).
    init(from target: Grid, to source: Grid) {
        guard let inv = source.affine.inverse else {
            preconditionFailure("Resampling: source affine is singular; readers must reject it")
        }
        let m = inv * target.affine
        func snap(_ v: Double) -> Double {
            let r = v.rounded()
            return abs(v - r) < 1e-9 ? r : v
        }
        func col(_ c: Int) -> SIMD3<Double> { SIMD3(snap(m[0, c]), snap(m[1, c]), snap(m[2, c])) }
        origin = col(3)
        di = col(0)
        dj = col(1)
        dk = col(2)
    }

    /// Continuous source index of target voxel (i, j, k), computed directly (for reference kernels).
    func apply(_ i: Int, _ j: Int, _ k: Int) -> SIMD3<Double> {
        origin + Double(i) * di + Double(j) * dj + Double(k) * dk
    }
}

/// The source side of a kernel: sizes, strides and the bounds of the inside test, per axis.
struct SourceBounds: Sendable {
    /// Voxels along i, j, k.
    let n: SIMD3<Int>
    /// Memory stride of one voxel step along i, j, k: (1, nx, nx*ny).
    let stride: SIMD3<Int>
    /// Exclusive upper bound of the inside test: n - 0.5 (the lower bound is -0.5).
    let upper: SIMD3<Double>
    /// Largest voxel centre index, n - 1, as Double (the clamp for trilinear sampling).
    let last: SIMD3<Double>
    /// Largest lower corner of a trilinear cell: max(n - 2, 0).
    let lastBase: SIMD3<Int>
    /// Memory step to the upper neighbour of a cell: the stride, or 0 on an axis of one voxel.
    let step: SIMD3<Int>

    init(_ grid: Grid) {
        let s = grid.shape
        self.init(grid, strides: SIMD3(1, s[0], s[0] * s[1]))
    }

    /// Bounds of `grid` whose voxels lie in memory at the given (possibly negative) strides
    /// instead of `grid`'s own order: a volume read in place through a permutation and flips
    /// of its axes (`Reorientation.sourceLayout`), the pointer handed to the kernels being that
    /// of voxel (0, 0, 0).
    init(_ grid: Grid, strides: SIMD3<Int>) {
        let s = grid.shape
        n = SIMD3(s[0], s[1], s[2])
        stride = strides
        upper = SIMD3(Double(s[0]) - 0.5, Double(s[1]) - 0.5, Double(s[2]) - 0.5)
        last = SIMD3(Double(s[0] - 1), Double(s[1] - 1), Double(s[2] - 1))
        lastBase = SIMD3(max(s[0] - 2, 0), max(s[1] - 2, 0), max(s[2] - 2, 0))
        step = SIMD3(s[0] > 1 ? strides.x : 0, s[1] > 1 ? strides.y : 0, s[2] > 1 ? strides.z : 0)
    }

    /// True when the continuous index `p` lies in the source's extent (false for NaN).
    @inline(__always) func contains(_ p: SIMD3<Double>) -> Bool {
        p.x >= -0.5 && p.x < upper.x && p.y >= -0.5 && p.y < upper.y && p.z >= -0.5 && p.z < upper.z
    }

    /// Offset of the nearest source voxel to an inside point: floor(x + 0.5) per axis.
    @inline(__always) func nearestOffset(_ p: SIMD3<Double>) -> Int {
        Int(p.x + 0.5) * stride.x + Int(p.y + 0.5) * stride.y + Int(p.z + 0.5) * stride.z
    }

    /// The trilinear cell of an inside point: offset of its lower corner and fractional weights.
    ///
    /// Points in the half-voxel band between the outermost centres and the edge of the extent
    /// are clamped to the outermost centres (the edge voxel's value extends to its edge).
    @inline(__always) func cell(_ p: SIMD3<Double>) -> (offset: Int, fx: Float, fy: Float, fz: Float) {
        let x = min(max(p.x, 0), last.x), y = min(max(p.y, 0), last.y), z = min(max(p.z, 0), last.z)
        let i0 = min(Int(x), lastBase.x), j0 = min(Int(y), lastBase.y), k0 = min(Int(z), lastBase.z)
        return (i0 * stride.x + j0 * stride.y + k0 * stride.z,
                Float(x - Double(i0)), Float(y - Double(j0)), Float(z - Double(k0)))
    }
}

