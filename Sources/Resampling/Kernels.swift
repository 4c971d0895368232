import ImagingCore

// Slice kernels. Each fills target slice `k` (nx*ny voxels starting at k*nx*ny) by stepping the
// index map incrementally: slice start = origin + k*dk, row start += dj, voxel += di.
// A naive reference kernel (one affine application per voxel, no stepping) sits beside each
// optimised one; tests compare them on random oblique grids.

/// Trilinear interpolation of target slice `k`.
/// - src: (nz_s, ny_s, nx_s) source voxels; out: (nz_t, ny_t, nx_t) target voxels.
@inline(__always)
func trilinearSlice(
    _ k: Int, map: IndexMap, bounds b: SourceBounds, targetShape t: [Int],
    src: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, fill: Float
) {
    let nx = t[0], ny = t[1]
    var row = map.origin + Double(k) * map.dk
    var o = k * nx * ny
    let ox = b.step.x, oy = b.step.y, oz = b.step.z
    if map.di.z == 0 && map.dj.z == 0 && row.z == row.z.rounded() {
        // The whole slice lies on one source slice (kept slices): bilinear, 4 reads per voxel.
        bilinearSlice(k, map: map, bounds: b, targetShape: t, src: src, out: out, fill: fill)
        return
    }
    for _ in 0..<ny {
        var p = row
        for _ in 0..<nx {
            if b.contains(p) {
                let c = b.cell(p)
                let s = src + c.offset
                let v000 = s[0], v100 = s[ox], v010 = s[oy], v110 = s[ox + oy]
                let v001 = s[oz], v101 = s[ox + oz], v011 = s[oy + oz], v111 = s[ox + oy + oz]
                let c00 = v000 + c.fx * (v100 - v000), c10 = v010 + c.fx * (v110 - v010)
                let c01 = v001 + c.fx * (v101 - v001), c11 = v011 + c.fx * (v111 - v011)
                let c0 = c00 + c.fy * (c10 - c00), c1 = c01 + c.fy * (c11 - c01)
                out[o] = c0 + c.fz * (c1 - c0)
            } else {
                out[o] = fill
            }
            p += map.di
            o += 1
        }
        row += map.dj
    }
}

/// Trilinear sampling of a target slice `k` that lies exactly on one source slice (the index
/// map's z is the same integer for every voxel): the z weight is 0, so only 4 values are read.
/// Gives the values of `trilinearSlice` up to Float rounding (its z weight would be 0 or 1).
@inline(__always)
func bilinearSlice(
    _ k: Int, map: IndexMap, bounds b: SourceBounds, targetShape t: [Int],
    src: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, fill: Float
) {
    let nx = t[0], ny = t[1]
    var row = map.origin + Double(k) * map.dk
    var o = k * nx * ny
    let z = row.z
    guard z >= -0.5 && z < b.upper.z else {
        (out + o).update(repeating: fill, count: nx * ny)
        return
    }
    let plane = src + Int(min(max(z, 0), b.last.z)) * b.stride.z
    let ox = b.step.x, oy = b.step.y
    for _ in 0..<ny {
        var x = row.x, y = row.y
        for _ in 0..<nx {
            if x >= -0.5 && x < b.upper.x && y >= -0.5 && y < b.upper.y {
                let xc = min(max(x, 0), b.last.x), yc = min(max(y, 0), b.last.y)
                let i0 = min(Int(xc), b.lastBase.x), j0 = min(Int(yc), b.lastBase.y)
                let fx = Float(xc - Double(i0)), fy = Float(yc - Double(j0))
                let s = plane + i0 * b.stride.x + j0 * b.stride.y
                let v00 = s[0], v10 = s[ox], v01 = s[oy], v11 = s[ox + oy]
                let c0 = v00 + fx * (v10 - v00), c1 = v01 + fx * (v11 - v01)
                out[o] = c0 + fy * (c1 - c0)
            } else {
                out[o] = fill
            }
            x += map.di.x
            y += map.di.y
            o += 1
        }
        row += map.dj
    }
}

/// Nearest-neighbour sampling of target slice `k` (labels, or any element type).
@inline(__always)
func nearestSlice<T>(
    _ k: Int, map: IndexMap, bounds b: SourceBounds, targetShape t: [Int],
    src: UnsafePointer<T>, out: UnsafeMutablePointer<T>, fill: T
) {
    let nx = t[0], ny = t[1]
    var row = map.origin + Double(k) * map.dk
    var o = k * nx * ny
    for _ in 0..<ny {
        var p = row
        for _ in 0..<nx {
            out[o] = b.contains(p) ? src[b.nearestOffset(p)] : fill
            p += map.di
            o += 1
        }
        row += map.dj
    }
}

/// Trilinear interpolation of target slice `k` of every channel, with the same weights.
///
/// Per row the cells and weights are computed once into scratch buffers, then each channel's
/// row is interpolated from them (channel-major memory stays sequential per channel).
/// - src: (C, nz_s, ny_s, nx_s); out: (C, nz_t, ny_t, nx_t); fill: (C).
func trilinearChannelsSlice(
    _ k: Int, map: IndexMap, bounds b: SourceBounds, targetShape t: [Int], channels: Int,
    src: UnsafePointer<Float>, sourceCount: Int, out: UnsafeMutablePointer<Float>, targetCount: Int,
    fill: [Float]
) {
    let nx = t[0], ny = t[1]
    // Row scratch: cell offset (-1 when outside) and weights, each (nx).
    var cells = [Int](repeating: -1, count: nx)
    var fx = [Float](repeating: 0, count: nx), fy = fx, fz = fx
    let ox = b.step.x, oy = b.step.y, oz = b.step.z
    var row = map.origin + Double(k) * map.dk
    for j in 0..<ny {
        var p = row
        for i in 0..<nx {
            if b.contains(p) {
                let c = b.cell(p)
                cells[i] = c.offset
                fx[i] = c.fx
                fy[i] = c.fy
                fz[i] = c.fz
            } else {
                cells[i] = -1
            }
            p += map.di
        }
        row += map.dj
        let rowOffset = (k * ny + j) * nx
        for ch in 0..<channels {
            let s = src + ch * sourceCount
            let d = out + ch * targetCount + rowOffset
            let f = fill[ch]
            for i in 0..<nx {
                let off = cells[i]
                if off < 0 {
                    d[i] = f
                    continue
                }
                let q = s + off
                let wx = fx[i], wy = fy[i], wz = fz[i]
                let v000 = q[0], v100 = q[ox], v010 = q[oy], v110 = q[ox + oy]
                let v001 = q[oz], v101 = q[ox + oz], v011 = q[oy + oz], v111 = q[ox + oy + oz]
                let c00 = v000 + wx * (v100 - v000), c10 = v010 + wx * (v110 - v010)
                let c01 = v001 + wx * (v101 - v001), c11 = v011 + wx * (v111 - v011)
                let c0 = c00 + wy * (c10 - c00), c1 = c01 + wy * (c11 - c01)
                d[i] = c0 + wz * (c1 - c0)
            }
        }
    }
}

// MARK: Reference kernels (naive: one affine application and explicit weights per voxel).

/// Trilinear reference: the textbook 8-weight sum at `map.apply(i, j, k)`, with the same
/// inside test and edge clamp as the optimised kernel.
func trilinearReference(_ source: ImageVolume, onto target: Grid, fill: Float) -> ImageVolume {
    let map = IndexMap(from: target, to: source.grid)
    let s = source.shape
    var out = ImageVolume(grid: target, repeating: fill)
    for k in 0..<target.shape[2] {
        for j in 0..<target.shape[1] {
            for i in 0..<target.shape[0] {
                let p = map.apply(i, j, k)
                let inside = (0..<3).allSatisfy { p[$0] >= -0.5 && p[$0] < Double(s[$0]) - 0.5 }
                guard inside else { continue }
                var value = 0.0
                let q = (0..<3).map { min(max(p[$0], 0), Double(s[$0] - 1)) }
                let lo = (0..<3).map { Int(q[$0].rounded(.down)) }
                for corner in 0..<8 {
                    var w = 1.0
                    var idx = [0, 0, 0]
                    for a in 0..<3 {
                        let up = (corner >> a) & 1 == 1
                        let f = q[a] - Double(lo[a])
                        w *= up ? f : 1 - f
                        idx[a] = min(lo[a] + (up ? 1 : 0), s[a] - 1)
                    }
                    if w != 0 { value += w * Double(source[idx[0], idx[1], idx[2]]) }
                }
                out[i, j, k] = Float(value)
            }
        }
    }
    return out
}

/// Nearest-neighbour reference: rounds `map.apply(i, j, k)` half up on each axis.
func nearestReference<T>(_ source: Volume<T>, onto target: Grid, fill: T) -> Volume<T> {
    let map = IndexMap(from: target, to: source.grid)
    let s = source.shape
    var out = Volume<T>(grid: target, repeating: fill)
    for k in 0..<target.shape[2] {
        for j in 0..<target.shape[1] {
            for i in 0..<target.shape[0] {
                let p = map.apply(i, j, k)
                let idx = (0..<3).map { Int((p[$0] + 0.5).rounded(.down)) }
                guard (0..<3).allSatisfy({ idx[$0] >= 0 && idx[$0] < s[$0] }) else { continue }
                out[i, j, k] = source[idx[0], idx[1], idx[2]]
            }
        }
    }
    return out
}
