import ImagingCore

/// Several Float channels on one grid, e.g. per-class probabilities (softmax output).
///
/// Memory is channel-major: channel `c`, voxel offset `o` (see `Grid.offset`) is
/// `data[c * grid.voxelCount + o]`, i.e. shape (C, nz, ny, nx) with i fastest.
public struct ChannelVolume: Sendable {
    public var grid: Grid
    public var channelCount: Int
    /// (C, nz, ny, nx) values.
    public var data: [Float]

    /// Wraps a channel-major buffer of `channelCount * grid.voxelCount` values.
    public init(grid: Grid, channelCount: Int, data: [Float]) {
        precondition(channelCount > 0, "ChannelVolume needs at least one channel")
        precondition(data.count == channelCount * grid.voxelCount,
                     "ChannelVolume data count \(data.count) != \(channelCount) channels x \(grid.voxelCount) voxels")
        self.grid = grid
        self.channelCount = channelCount
        self.data = data
    }

    /// Concatenates one buffer per channel, each `grid.voxelCount` values.
    public init(grid: Grid, channels: [[Float]]) {
        precondition(channels.allSatisfy { $0.count == grid.voxelCount }, "every channel needs grid.voxelCount values")
        self.init(grid: grid, channelCount: channels.count, data: channels.flatMap { $0 })
    }

    /// Channel `c` as an image volume (a copy).
    public func channel(_ c: Int) -> ImageVolume {
        precondition(c >= 0 && c < channelCount, "channel \(c) out of 0..<\(channelCount)")
        let n = grid.voxelCount
        return ImageVolume(grid: grid, data: Array(data[(c * n)..<((c + 1) * n)]))
    }

    /// Value of channel `c` at voxel (i, j, k).
    @inlinable public subscript(c: Int, i: Int, j: Int, k: Int) -> Float {
        get { data[c * grid.voxelCount + grid.offset(i, j, k)] }
        set { data[c * grid.voxelCount + grid.offset(i, j, k)] = newValue }
    }
}
