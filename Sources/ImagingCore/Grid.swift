/// A 3-D voxel grid: a shape and the affine that places it in RAS mm (voxel centres).
public struct Grid: Equatable, Hashable, Sendable, Codable {
    /// Number of voxels along i, j, k. The first index varies fastest in memory (NIfTI order).
    public var shape: [Int]
    public var affine: Affine

    public init(shape: [Int], affine: Affine) {
        precondition(shape.count == 3 && shape.allSatisfy { $0 > 0 }, "Grid shape must be 3 positive sizes")
        self.shape = shape
        self.affine = affine
    }

    public var voxelCount: Int { shape[0] * shape[1] * shape[2] }
    public var spacing: SIMD3<Double> { affine.spacing }
    /// Volume of one voxel in mm³ (|det| of the linear part; exact for oblique grids).
    public var voxelVolume: Double { abs(affine.determinant) }

    /// Linear offset of voxel (i, j, k) in memory.
    @inlinable public func offset(_ i: Int, _ j: Int, _ k: Int) -> Int { i + shape[0] * (j + shape[1] * k) }

    /// True when `other` has the same shape and an affine equal within `tolerance` mm.
    public func matches(_ other: Grid, tolerance: Double = 1e-3) -> Bool {
        shape == other.shape && affine.maxDifference(to: other.affine) <= tolerance
    }
}

/// A scalar volume on a grid. `data[grid.offset(i, j, k)]` is voxel (i, j, k).
public struct Volume<Element: Sendable>: Sendable {
    public var grid: Grid
    public var data: [Element]

    public init(grid: Grid, data: [Element]) {
        precondition(data.count == grid.voxelCount, "Volume data count \(data.count) != grid voxels \(grid.voxelCount)")
        self.grid = grid
        self.data = data
    }

    public init(grid: Grid, repeating value: Element) {
        self.grid = grid
        self.data = [Element](repeating: value, count: grid.voxelCount)
    }

    public var shape: [Int] { grid.shape }

    @inlinable public subscript(i: Int, j: Int, k: Int) -> Element {
        get { data[grid.offset(i, j, k)] }
        set { data[grid.offset(i, j, k)] = newValue }
    }

    /// The same voxels with each value transformed.
    public func map<T>(_ transform: (Element) throws -> T) rethrows -> Volume<T> {
        Volume<T>(grid: grid, data: try data.map(transform))
    }
}

/// An image volume: intensities as Float32 (exact for every 16-bit integer and for CT HU).
public typealias ImageVolume = Volume<Float>
/// A label map: class ids (Int32 holds every id a label table may use, e.g. MuscleMap's four digits).
public typealias LabelVolume = Volume<Int32>
