import Dispatch
import ImagingCore

/// A lossless reorientation of a grid to RAS axis order (permutation and flips of the voxel
/// axes only, no interpolation), and the record that undoes it.
///
/// Canonical axis `a` (0 = R, 1 = A, 2 = S) reads source axis `sourceAxis[a]`, reversed when
/// `flipped[a]`. Every voxel keeps its exact world position: the canonical affine is the source
/// affine times the index permutation, so oblique grids stay oblique. `invert` returns the stored
/// `sourceGrid` itself, so the round trip is bit-exact in grid and data.
public struct Reorientation: Equatable, Sendable, Codable {
    /// The grid before reorientation (returned as is by `invert`).
    public var sourceGrid: Grid
    /// The grid after reorientation; its `affine.axisCodes` is "RAS".
    public var canonicalGrid: Grid
    /// For each canonical axis, the source axis it reads.
    public var sourceAxis: [Int]
    /// For each canonical axis, whether its index runs opposite to the source axis.
    public var flipped: [Bool]

    /// True when the canonical grid is the source grid (no copy is made).
    public var isIdentity: Bool { sourceAxis == [0, 1, 2] && flipped == [false, false, false] }

    /// Chooses, for each world axis R, A, S, the source voxel axis that points most along it
    /// (nibabel's `as_closest_canonical`): repeatedly take the largest |direction component|
    /// among unassigned (voxel axis, world axis) pairs; flip the axis when that component is negative.
    /// Traps on a singular affine.
    public init(canonicalizing grid: Grid) {
        precondition(grid.affine.isValid, "Reorientation: affine must be finite and invertible")
        let dirs = grid.affine.directions
        var axisFor = [Int](repeating: -1, count: 3)   // world axis -> source axis
        var sign = [Double](repeating: 1, count: 3)
        var usedSource = Set<Int>()
        for _ in 0..<3 {
            var best = (q: -1, w: -1, v: -1.0)
            for q in 0..<3 where !usedSource.contains(q) {
                for w in 0..<3 where axisFor[w] < 0 {
                    let v = abs(dirs[q][w])
                    if v > best.v { best = (q, w, v) }
                }
            }
            axisFor[best.w] = best.q
            sign[best.w] = dirs[best.q][best.w] < 0 ? -1 : 1
            usedSource.insert(best.q)
        }
        sourceAxis = axisFor
        flipped = sign.map { $0 < 0 }
        sourceGrid = grid
        // T maps canonical index -> source index: source[q] = flip ? n_q - 1 - c[a] : c[a].
        var rows = [[Double]](repeating: [0, 0, 0, 0], count: 3)
        var shape = [0, 0, 0]
        for a in 0..<3 {
            let q = axisFor[a]
            shape[a] = grid.shape[q]
            rows[q][a] = flipped[a] ? -1 : 1
            rows[q][3] = flipped[a] ? Double(grid.shape[q] - 1) : 0
        }
        canonicalGrid = Grid(shape: shape, affine: grid.affine * Affine(rows: rows))
        if sourceAxis == [0, 1, 2] && flipped == [false, false, false] { canonicalGrid = grid }
    }

    /// Reorders a volume on `sourceGrid` into canonical order (bit-exact copy of the values).
    public func apply<T>(_ volume: Volume<T>) -> Volume<T> {
        precondition(volume.shape == sourceGrid.shape, "Reorientation.apply: volume is not on the source grid")
        if isIdentity { return Volume(grid: canonicalGrid, data: volume.data) }
        // Destination axis a reads source axis sourceAxis[a].
        let strides = [1, sourceGrid.shape[0], sourceGrid.shape[0] * sourceGrid.shape[1]]
        let axes = (0..<3).map { a in (stride: strides[sourceAxis[a]], flip: flipped[a]) }
        return Volume(grid: canonicalGrid, data: permuted(volume.data, to: canonicalGrid.shape, axes: axes))
    }

    /// Where canonical voxel (i, j, k) lies in a volume stored on `sourceGrid`: at
    /// `origin + i * strides.x + j * strides.y + k * strides.z` (a stride is negative on a flipped
    /// axis). The offsets `apply` copies from, so reading through them gives `apply`'s values.
    public var sourceLayout: (origin: Int, strides: SIMD3<Int>) {
        let strides = [1, sourceGrid.shape[0], sourceGrid.shape[0] * sourceGrid.shape[1]]
        var origin = 0
        var step = SIMD3<Int>(0, 0, 0)
        for a in 0..<3 {
            let stride = strides[sourceAxis[a]]
            step[a] = flipped[a] ? -stride : stride
            if flipped[a] { origin += stride * (canonicalGrid.shape[a] - 1) }
        }
        return (origin, step)
    }

    /// Restores a volume on the canonical grid to the exact source grid and voxel order.
    public func invert<T>(_ volume: Volume<T>) -> Volume<T> {
        precondition(volume.shape == canonicalGrid.shape, "Reorientation.invert: volume is not on the canonical grid")
        if isIdentity { return Volume(grid: sourceGrid, data: volume.data) }
        // Source axis q is canonical axis a with sourceAxis[a] == q; a flip is its own inverse.
        let strides = [1, canonicalGrid.shape[0], canonicalGrid.shape[0] * canonicalGrid.shape[1]]
        let axes = (0..<3).map { q in
            let a = sourceAxis.firstIndex(of: q)!
            return (stride: strides[a], flip: flipped[a])
        }
        return Volume(grid: sourceGrid, data: permuted(volume.data, to: sourceGrid.shape, axes: axes))
    }
}

/// Copies `data` into a new voxel order: destination axis `d` of size `shape[d]` steps the
/// source by `axes[d].stride`, backwards when `axes[d].flip`.
/// - data: (source voxels); returns (nz, ny, nx) of `shape`.
///
/// Destination slices are copied in parallel; when the destination's fastest axis is not the
/// source's (a transpose), each slice goes in 32 × 32 tiles so that the source rows a tile reads
/// stay in cache. A pure copy: the values are `referencePermuted`'s (tested).
func permuted<T>(_ data: [T], to shape: [Int], axes: [(stride: Int, flip: Bool)]) -> [T] {
    var base = 0
    var step = [0, 0, 0]
    for d in 0..<3 {
        step[d] = axes[d].flip ? -axes[d].stride : axes[d].stride
        if axes[d].flip { base += axes[d].stride * (shape[d] - 1) }
    }
    let nx = shape[0], ny = shape[1], nz = shape[2], count = nx * ny * nz
    precondition(count == data.count, "permuted: shape does not match the data")
    let (s0, s1, s2, origin) = (step[0], step[1], step[2], base)
    let tiled = abs(s0) != 1, tile = 32
    return [T](unsafeUninitializedCapacity: count) { dst, written in
        data.withUnsafeBufferPointer { src in
            guard let sb = src.baseAddress, let db = dst.baseAddress else { return }
            let s = SendableBuffer(base: UnsafeMutablePointer(mutating: sb)), d = SendableBuffer(base: db)
            DispatchQueue.concurrentPerform(iterations: nz) { k in
                let from = UnsafePointer(s.base) + origin + k * s2, to = d.base + k * nx * ny
                if !tiled {
                    for j in 0..<ny {
                        var o = j * s1
                        let row = to + j * nx
                        for i in 0..<nx {
                            (row + i).initialize(to: from[o])
                            o += s0
                        }
                    }
                    return
                }
                for jb in stride(from: 0, to: ny, by: tile) {
                    for ib in stride(from: 0, to: nx, by: tile) {
                        for j in jb..<min(jb + tile, ny) {
                            var o = j * s1 + ib * s0
                            let row = to + j * nx
                            for i in ib..<min(ib + tile, nx) {
                                (row + i).initialize(to: from[o])
                                o += s0
                            }
                        }
                    }
                }
            }
        }
        written = count
    }
}

/// The reference twin of `permuted`: one sequential pass in destination order.
func referencePermuted<T>(_ data: [T], to shape: [Int], axes: [(stride: Int, flip: Bool)]) -> [T] {
    var base = 0
    var step = [0, 0, 0]
    for d in 0..<3 {
        step[d] = axes[d].flip ? -axes[d].stride : axes[d].stride
        if axes[d].flip { base += axes[d].stride * (shape[d] - 1) }
    }
    var out = [T]()
    out.reserveCapacity(data.count)
    data.withUnsafeBufferPointer { src in
        for k in 0..<shape[2] {
            for j in 0..<shape[1] {
                var o = base + j * step[1] + k * step[2]
                for _ in 0..<shape[0] {
                    out.append(src[o])
                    o += step[0]
                }
            }
        }
    }
    return out
}

/// Reorients a volume to RAS axis order without interpolation, returning the record that
/// restores the exact original grid and data (`Reorientation.invert`).
public func toCanonical<T>(_ volume: Volume<T>) -> (Volume<T>, Reorientation) {
    let r = Reorientation(canonicalizing: volume.grid)
    return (r.apply(volume), r)
}
