import ImagingCore

/// Post-processing: removes small islands of each class.
///
/// A component is a maximal set of voxels of one label connected through any of the 26
/// neighbours (faces, edges and corners; in a one-slice volume this is 8-connectivity). A
/// component whose volume (voxels × voxel volume) is below the class's minimum becomes
/// background (id 0), as in TotalSegmentator's `remove_small_blobs`: the network's stray specks
/// are not reassigned to a guess. Components are judged independently, so the outcome does not
/// depend on scan order. A minimum of 0 keeps everything.
public struct IslandRemoval: Codable, Equatable, Sendable {
    /// Minimum component volume in mL for classes not listed in `minimumMLByClass`.
    public var minimumML: Double
    /// Per-class minimum in mL, by catalog id (e.g. 0 for a class made of many small pieces).
    public var minimumMLByClass: [Int: Double]

    public init(minimumML: Double = 0.1, minimumMLByClass: [Int: Double] = [:]) {
        self.minimumML = minimumML
        self.minimumMLByClass = minimumMLByClass
    }

    /// Keeps every component.
    public static let off = IslandRemoval(minimumML: 0)

    /// The minimum volume (mL) for a class id.
    public func minimum(for id: Int32) -> Double { minimumMLByClass[Int(id)] ?? minimumML }

    /// What `apply` removed.
    public struct Outcome: Equatable, Sendable {
        /// Components removed and their voxels, per class id.
        public var components: [Int32: Int] = [:]
        public var voxels: [Int32: Int] = [:]
    }

    /// Removes the small components of every label in place.
    @discardableResult
    public func apply(to labels: inout LabelVolume) -> Outcome {
        var outcome = Outcome()
        let grid = labels.grid
        let voxelML = grid.voxelVolume / 1000
        let nx = grid.shape[0], ny = grid.shape[1], nz = grid.shape[2]
        let count = grid.voxelCount
        var visited = [Bool](repeating: false, count: count)
        // Offsets of the 26 neighbours of an interior voxel.
        var neighbours: [Int] = []
        for dk in -1...1 { for dj in -1...1 { for di in -1...1 where (di, dj, dk) != (0, 0, 0) {
            neighbours.append(di + nx * (dj + ny * dk))
        } } }
        var stack: [Int] = []
        var members: [Int] = []
        labels.data.withUnsafeMutableBufferPointer { lab in
            for seed in 0..<count where !visited[seed] && lab[seed] != 0 {
                let label = lab[seed]
                let minimum = minimum(for: label)
                visited[seed] = true
                guard minimum > 0 else { continue }
                // Voxels needed to keep the component: volume ≥ minimum.
                members.removeAll(keepingCapacity: true)
                stack.removeAll(keepingCapacity: true)
                stack.append(seed)
                while let o = stack.popLast() {
                    members.append(o)
                    let i = o % nx, j = (o / nx) % ny, k = o / (nx * ny)
                    if i > 0 && i < nx - 1 && j > 0 && j < ny - 1 && k > 0 && k < nz - 1 {
                        // Interior voxel: all 26 neighbours exist.
                        for d in neighbours {
                            let q = o + d
                            if !visited[q] && lab[q] == label {
                                visited[q] = true
                                stack.append(q)
                            }
                        }
                        continue
                    }
                    for dk in -1...1 {
                        let kk = k + dk
                        guard kk >= 0, kk < nz else { continue }
                        for dj in -1...1 {
                            let jj = j + dj
                            guard jj >= 0, jj < ny else { continue }
                            for di in -1...1 {
                                let ii = i + di
                                guard ii >= 0, ii < nx else { continue }
                                let q = ii + nx * (jj + ny * kk)
                                if !visited[q] && lab[q] == label {
                                    visited[q] = true
                                    stack.append(q)
                                }
                            }
                        }
                    }
                }
                if Double(members.count) * voxelML < minimum {
                    for o in members { lab[o] = 0 }
                    outcome.components[label, default: 0] += 1
                    outcome.voxels[label, default: 0] += members.count
                }
            }
        }
        return outcome
    }
}
