import Dispatch
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
    ///
    /// Run-length union-find: each row (fixed j, k) is cut into runs of one label whose class
    /// has a positive minimum (rows of one slice in parallel); a run is joined to the runs of
    /// the same label in the 4 earlier neighbouring rows ((j-1, k), (j-1, k-1), (j, k-1),
    /// (j+1, k-1)) that overlap it with one voxel of slack (26-connectivity). Unions inside a
    /// slice run in parallel, those across slices after them; then component sizes are summed
    /// per root and small components' runs cleared. Components are a property of the volume,
    /// so the result equals `referenceApply`'s flood fill voxel for voxel (tested).
    @discardableResult
    public func apply(to labels: inout LabelVolume) -> Outcome {
        let grid = labels.grid
        let nx = grid.shape[0], ny = grid.shape[1], nz = grid.shape[2]
        guard minimumML > 0 || minimumMLByClass.values.contains(where: { $0 > 0 }), grid.voxelCount > 0 else { return Outcome() }
        let voxelML = grid.voxelVolume / 1000
        let removal = self
        // Runs of each slice, found in parallel.
        var slices = [SliceRuns](repeating: SliceRuns(), count: nz)
        labels.data.withUnsafeBufferPointer { lab in
            let src = SendableBuffer(base: UnsafeMutablePointer(mutating: lab.baseAddress!))
            slices.withUnsafeMutableBufferPointer { out in
                let dst = SendableBuffer(base: out.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: nz) { k in
                    dst.base[k] = SliceRuns(slice: UnsafePointer(src.base) + k * nx * ny, nx: nx, ny: ny, removal: removal)
                }
            }
        }
        // Global run index = base of its slice + index in the slice.
        var base = [Int](repeating: 0, count: nz + 1)
        for k in 0..<nz { base[k + 1] = base[k] + slices[k].count }
        let total = base[nz]
        guard total > 0 else { return Outcome() }
        var parent = [Int32](repeating: 0, count: total)
        parent.withUnsafeMutableBufferPointer { par in
            let p = SendableBuffer(base: par.baseAddress!)
            slices.withUnsafeBufferPointer { sl in
                let s = SendableBuffer(base: UnsafeMutablePointer(mutating: sl.baseAddress!))
                base.withUnsafeBufferPointer { b in
                    let bb = SendableBuffer(base: UnsafeMutablePointer(mutating: b.baseAddress!))
                    // Inside each slice: rows j-1 and j (a slice's runs only touch its own part of `parent`).
                    DispatchQueue.concurrentPerform(iterations: nz) { k in
                        let runs = s.base[k], off = bb.base[k]
                        for n in 0..<runs.count { p.base[off + n] = Int32(off + n) }
                        for j in 1..<max(ny, 1) {
                            Self.join(runs, row: j, runs, row: j - 1, offsetA: off, offsetB: off, parent: p.base)
                        }
                    }
                }
            }
            // Across slices: rows (j-1, k-1), (j, k-1), (j+1, k-1).
            for k in 1..<max(nz, 1) {
                for j in 0..<ny {
                    for dj in -1...1 where j + dj >= 0 && j + dj < ny {
                        Self.join(slices[k], row: j, slices[k - 1], row: j + dj, offsetA: base[k], offsetB: base[k - 1], parent: par.baseAddress!)
                    }
                }
            }
        }
        // Flatten: a parent index is never above its child's (`union` keeps the smaller root,
        // `find` only shortens), so one ascending pass leaves every run pointing at its root.
        // Then component sizes per root and the verdict per root, per-label tables instead of
        // dictionaries (speckle has millions of components).
        var size = [Int](repeating: 0, count: total)
        var remove = [Bool](repeating: false, count: total)
        let labelTable = LabelIndex(slices.lazy.flatMap(\.labels))
        var removedComponents = [Int](repeating: 0, count: labelTable.count)
        var removedVoxels = [Int](repeating: 0, count: labelTable.count)
        let minimumVoxels = labelTable.labels.map { label in
            // Smallest kept size in voxels: size · voxelML < minimum  ⇔  size < this.
            let minimum = self.minimum(for: label), ratio = minimum / voxelML
            guard minimum > 0 else { return 0 }
            guard ratio < 1e15 else { return Int.max }
            var n = max(0, Int(ratio.rounded(.down)) - 1)
            while n > 0 && Double(n - 1) * voxelML >= minimum { n -= 1 }
            while Double(n) * voxelML < minimum { n += 1 }
            return n
        }
        parent.withUnsafeMutableBufferPointer { par in
            size.withUnsafeMutableBufferPointer { sz in
                for k in 0..<nz {
                    let runs = slices[k], off = base[k]
                    runs.starts.withUnsafeBufferPointer { st in
                        runs.ends.withUnsafeBufferPointer { en in
                            for n in 0..<runs.count {
                                let r = Int(par[Int(par[off + n])])
                                par[off + n] = Int32(r)
                                sz[r] += Int(en[n] - st[n])
                            }
                        }
                    }
                }
            }
        }
        var anyRemoved = false
        for k in 0..<nz {
            let runs = slices[k], off = base[k]
            for n in 0..<runs.count where Int(parent[off + n]) == off + n {
                let t = labelTable.index(of: runs.labels[n])
                if Int(size[off + n]) < minimumVoxels[t] {
                    remove[off + n] = true
                    anyRemoved = true
                    removedComponents[t] += 1
                    removedVoxels[t] += Int(size[off + n])
                }
            }
        }
        var outcome = Outcome()
        for (t, label) in labelTable.labels.enumerated() where removedComponents[t] > 0 {
            outcome.components[label] = removedComponents[t]
            outcome.voxels[label] = removedVoxels[t]
        }
        guard anyRemoved else { return outcome }
        // Clearing, slices in parallel (each slice's runs cover only its own voxels).
        labels.data.withUnsafeMutableBufferPointer { lab in
            let dst = SendableBuffer(base: lab.baseAddress!)
            parent.withUnsafeBufferPointer { par in
                remove.withUnsafeBufferPointer { rem in
                    slices.withUnsafeBufferPointer { sl in
                        let p = SendableBuffer(base: UnsafeMutablePointer(mutating: par.baseAddress!))
                        let r = SendableBuffer(base: UnsafeMutablePointer(mutating: rem.baseAddress!))
                        let s = SendableBuffer(base: UnsafeMutablePointer(mutating: sl.baseAddress!))
                        base.withUnsafeBufferPointer { b in
                            let bb = SendableBuffer(base: UnsafeMutablePointer(mutating: b.baseAddress!))
                            DispatchQueue.concurrentPerform(iterations: nz) { k in
                                let runs = s.base[k], off = bb.base[k]
                                for n in 0..<runs.count where r.base[Int(p.base[off + n])] {
                                    let row = dst.base + k * nx * ny + Int(runs.rows[n]) * nx
                                    (row + Int(runs.starts[n])).update(repeating: 0, count: Int(runs.ends[n] - runs.starts[n]))
                                }
                            }
                        }
                    }
                }
            }
        }
        return outcome
    }

    /// Dense indices for the labels present: a table by id for ids in 1 ..< 65536 (catalog
    /// ids), a dictionary for any other.
    struct LabelIndex {
        private(set) var labels: [Int32] = []
        private var small = [Int32](repeating: -1, count: 1 << 16)
        private var other: [Int32: Int] = [:]
        var count: Int { labels.count }

        init<S: Sequence>(_ present: S) where S.Element == Int32 {
            for l in present where index(orNil: l) == nil {
                if l > 0 && l < 1 << 16 { small[Int(l)] = Int32(labels.count) } else { other[l] = labels.count }
                labels.append(l)
            }
        }

        @inline(__always) func index(orNil l: Int32) -> Int? {
            if l > 0 && l < 1 << 16 { let t = small[Int(l)]; return t >= 0 ? Int(t) : nil }
            return other[l]
        }

        /// The index of a label given to `init`.
        @inline(__always) func index(of l: Int32) -> Int { index(orNil: l)! }
    }

    /// The runs of one slice: voxels `starts[n] ..< ends[n]` of row `rows[n]` hold `labels[n]`;
    /// row j's runs are `rowStart[j] ..< rowStart[j + 1]`, in increasing x.
    struct SliceRuns: Sendable {
        var starts: [Int32] = []
        var ends: [Int32] = []
        var labels: [Int32] = []
        var rows: [Int32] = []
        var rowStart: [Int32] = [0]
        var count: Int { starts.count }

        init() {}

        /// Runs of the labels whose minimum is positive (the others are never removed).
        init(slice: UnsafePointer<Int32>, nx: Int, ny: Int, removal: IslandRemoval) {
            rowStart.reserveCapacity(ny + 1)
            var lastLabel: Int32 = 0, lastKept = false
            for j in 0..<ny {
                let row = slice + j * nx
                var i = 0
                while i < nx {
                    let l = row[i]
                    var e = i + 1
                    while e < nx && row[e] == l { e += 1 }
                    if l != 0 {
                        if l != lastLabel {
                            lastLabel = l
                            lastKept = removal.minimum(for: l) > 0
                        }
                        if lastKept {
                            starts.append(Int32(i))
                            ends.append(Int32(e))
                            labels.append(l)
                            rows.append(Int32(j))
                        }
                    }
                    i = e
                }
                rowStart.append(Int32(starts.count))
            }
        }
    }

    /// Unions every run of row `ja` in `a` with the runs of row `jb` in `b` of the same label
    /// within one voxel along x (`b.start <= a.end && a.start <= b.end`, ends exclusive).
    static func join(_ a: SliceRuns, row ja: Int, _ b: SliceRuns, row jb: Int, offsetA: Int, offsetB: Int,
                     parent: UnsafeMutablePointer<Int32>) {
        var lo = Int(b.rowStart[jb])
        let bEnd = Int(b.rowStart[jb + 1])
        guard lo < bEnd else { return }
        for n in Int(a.rowStart[ja])..<Int(a.rowStart[ja + 1]) {
            let s = a.starts[n], e = a.ends[n], l = a.labels[n]
            while lo < bEnd && b.ends[lo] < s { lo += 1 }
            var m = lo
            while m < bEnd && b.starts[m] <= e {
                if b.labels[m] == l { union(Int32(offsetA + n), Int32(offsetB + m), parent) }
                m += 1
            }
        }
    }

    /// Root of `x`, halving the path on the way.
    @inline(__always)
    static func find(_ x: Int32, _ parent: UnsafeMutablePointer<Int32>) -> Int32 {
        var x = x
        while parent[Int(x)] != x {
            parent[Int(x)] = parent[Int(parent[Int(x)])]
            x = parent[Int(x)]
        }
        return x
    }

    /// Joins the sets of `a` and `b` (the smaller root index becomes the root).
    @inline(__always)
    static func union(_ a: Int32, _ b: Int32, _ parent: UnsafeMutablePointer<Int32>) {
        let ra = find(a, parent), rb = find(b, parent)
        if ra < rb { parent[Int(rb)] = ra } else if rb < ra { parent[Int(ra)] = rb }
    }
}
