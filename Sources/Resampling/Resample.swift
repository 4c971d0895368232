import Dispatch
import ImagingCore

// Resampling onto any target grid. Geometry convention (ImagingCore's): affines map voxel
// indices to RAS mm at voxel *centres*; a target voxel takes the source value at its centre.
// A point is inside the source when its continuous source index x satisfies -0.5 <= x < n - 0.5
// on every axis (it falls in some source voxel); outside points get the fill value. Trilinear
// sampling between the outermost centres and the edge of the extent uses the edge voxel's value.
// Work is split over target slices with DispatchQueue.concurrentPerform.

/// Resamples an intensity image onto `target` by trilinear interpolation.
///
/// Exact (up to Float rounding) on functions linear in world position, between source centres.
/// - Parameters:
///   - image: the source volume; its affine must be invertible (traps otherwise).
///   - target: the grid to fill (any shape, spacing, orientation; oblique allowed).
///   - fill: value of target voxels whose centre lies outside the source's extent.
public func resample(_ image: ImageVolume, onto target: Grid, fill: Float = 0) -> ImageVolume {
    trilinear(image.data, origin: 0, grid: image.grid, bounds: SourceBounds(image.grid), onto: target, fill: fill)
}

/// `resample(reorientation.apply(image), onto: target, fill:)` without the reoriented copy: the
/// kernels read `image` (on `reorientation.sourceGrid`) in place through the reorientation's
/// strides (`Reorientation.sourceLayout`). The index map, cells, weights and the values read are
/// those of the reoriented copy, so the result is the same bit for bit (tested); what goes is a
/// full-size copy (for a 512 × 512 × 32 scan 32 MB written, read back, and its fresh pages).
public func resample(_ image: ImageVolume, reorientedBy reorientation: Reorientation, onto target: Grid,
                     fill: Float = 0) -> ImageVolume {
    precondition(image.shape == reorientation.sourceGrid.shape, "resample(reorientedBy:): image is not on the source grid")
    if reorientation.isIdentity { return resample(Volume(grid: reorientation.canonicalGrid, data: image.data), onto: target, fill: fill) }
    let layout = reorientation.sourceLayout
    return trilinear(image.data, origin: layout.origin, grid: reorientation.canonicalGrid,
                     bounds: SourceBounds(reorientation.canonicalGrid, strides: layout.strides), onto: target, fill: fill)
}

/// The trilinear driver of both: the values of a volume on `grid`, stored in `data` from `origin`
/// on with `bounds`' strides, sampled at every voxel of `target`, one target slice per task.
private func trilinear(_ data: [Float], origin: Int, grid: Grid, bounds: SourceBounds, onto target: Grid,
                       fill: Float) -> ImageVolume {
    let map = IndexMap(from: target, to: grid)
    // Every target voxel is written by exactly one slice iteration: no need to zero the buffer.
    let out = [Float](unsafeUninitializedCapacity: target.voxelCount) { dst, count in
        data.withUnsafeBufferPointer { src in
            let s = SendableBuffer(base: UnsafeMutablePointer(mutating: src.baseAddress! + origin))
            let d = SendableBuffer(base: dst.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: target.shape[2]) { k in
                trilinearSlice(k, map: map, bounds: bounds, targetShape: target.shape,
                               src: UnsafePointer(s.base), out: d.base, fill: fill)
            }
        }
        count = target.voxelCount
    }
    return ImageVolume(grid: target, data: out)
}

/// Resamples a label map onto `target` by nearest neighbour (ties round half up in index).
public func resample(_ labels: LabelVolume, onto target: Grid, fill: Int32 = 0) -> LabelVolume {
    resampleNearest(labels, onto: target, fill: fill)
}

/// Resamples any volume onto `target` by nearest neighbour: each target voxel takes the source
/// voxel whose extent contains its centre, or `fill` outside the source.
public func resampleNearest<T>(_ volume: Volume<T>, onto target: Grid, fill: T) -> Volume<T> {
    let map = IndexMap(from: target, to: volume.grid)
    let bounds = SourceBounds(volume.grid)
    var out = [T](repeating: fill, count: target.voxelCount)
    volume.data.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            let s = SendableBuffer(base: UnsafeMutablePointer(mutating: src.baseAddress!))
            let d = SendableBuffer(base: dst.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: target.shape[2]) { k in
                nearestSlice(k, map: map, bounds: bounds, targetShape: target.shape,
                             src: UnsafePointer(s.base), out: d.base, fill: fill)
            }
        }
    }
    return Volume(grid: target, data: out)
}

/// Resamples every channel onto `target` by trilinear interpolation with the same weights, so
/// channels that sum to 1 at every source voxel still sum to 1 (within Float rounding) at every
/// inside target voxel.
/// - Parameter fill: per-channel value outside the source (`nil`: all 0; pass e.g. `[1, 0, …]`
///   to make outside voxels certain background).
public func resample(_ channels: ChannelVolume, onto target: Grid, fill: [Float]? = nil) -> ChannelVolume {
    let c = channels.channelCount
    let fillValues = fill ?? [Float](repeating: 0, count: c)
    precondition(fillValues.count == c, "fill needs one value per channel")
    let map = IndexMap(from: target, to: channels.grid)
    let bounds = SourceBounds(channels.grid)
    let sourceCount = channels.grid.voxelCount, targetCount = target.voxelCount
    // Every target value is written by exactly one slice iteration: no need to zero the buffer.
    let out = [Float](unsafeUninitializedCapacity: c * targetCount) { dst, count in
        channels.data.withUnsafeBufferPointer { src in
            let s = SendableBuffer(base: UnsafeMutablePointer(mutating: src.baseAddress!))
            let d = SendableBuffer(base: dst.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: target.shape[2]) { k in
                trilinearChannelsSlice(k, map: map, bounds: bounds, targetShape: target.shape, channels: c,
                                       src: UnsafePointer(s.base), sourceCount: sourceCount,
                                       out: d.base, targetCount: targetCount, fill: fillValues)
            }
        }
        count = c * targetCount
    }
    return ChannelVolume(grid: target, channelCount: c, data: out)
}
