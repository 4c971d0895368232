import Anatomy
import Dispatch
import ImagingCore

/// One row of a volume report: a class on one side.
public struct ClassVolume: Codable, Equatable, Sendable {
    /// Catalog id and name.
    public var id: Int
    public var name: String
    public var group: TissueGroup
    public var side: BodySide
    /// Labelled voxels on the native grid.
    public var voxels: Int
    /// voxels × |det(affine)| / 1000 (mL). For a truncated class this is the volume inside the
    /// field of view, never 0.
    public var volumeML: Double
    /// Slices (along the scan's slice axis, the third voxel axis) holding at least one voxel.
    public var slices: Int
    /// The class touches the first or last slice: part of it may lie outside the field of view.
    public var truncated: Bool { touchesFirstSlice || touchesLastSlice }
    public var touchesFirstSlice: Bool
    public var touchesLastSlice: Bool

    private enum CodingKeys: String, CodingKey {
        case id, name, group, side, voxels, volumeML, slices, truncated, touchesFirstSlice, touchesLastSlice
    }

    public init(id: Int, name: String, group: TissueGroup, side: BodySide, voxels: Int, volumeML: Double, slices: Int,
                touchesFirstSlice: Bool, touchesLastSlice: Bool) {
        self.id = id
        self.name = name
        self.group = group
        self.side = side
        self.voxels = voxels
        self.volumeML = volumeML
        self.slices = slices
        self.touchesFirstSlice = touchesFirstSlice
        self.touchesLastSlice = touchesLastSlice
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(id: try c.decode(Int.self, forKey: .id), name: try c.decode(String.self, forKey: .name),
                  group: try c.decode(TissueGroup.self, forKey: .group), side: try c.decode(BodySide.self, forKey: .side),
                  voxels: try c.decode(Int.self, forKey: .voxels), volumeML: try c.decode(Double.self, forKey: .volumeML),
                  slices: try c.decode(Int.self, forKey: .slices),
                  touchesFirstSlice: try c.decode(Bool.self, forKey: .touchesFirstSlice),
                  touchesLastSlice: try c.decode(Bool.self, forKey: .touchesLastSlice))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(group, forKey: .group)
        try c.encode(side, forKey: .side)
        try c.encode(voxels, forKey: .voxels)
        try c.encode(volumeML, forKey: .volumeML)
        try c.encode(slices, forKey: .slices)
        try c.encode(truncated, forKey: .truncated)
        try c.encode(touchesFirstSlice, forKey: .touchesFirstSlice)
        try c.encode(touchesLastSlice, forKey: .touchesLastSlice)
    }
}

/// The volumes of one segmented scan (docs/volumetry.md).
public struct VolumeReport: Codable, Equatable, Sendable {
    public var region: Region
    /// |det(affine)| of the native grid (mm³).
    public var voxelVolumeMM3: Double
    /// Slices along the scan's slice axis (the third voxel axis).
    public var sliceCount: Int
    public var sides: SideSplit
    /// Every class of the region (and any other class present), by id, then side (left, right,
    /// unsplit). Absent classes have a row with 0 voxels.
    public var rows: [ClassVolume]

    /// The row of a class name and side, if any.
    public func row(_ name: String, side: BodySide) -> ClassVolume? { rows.first { $0.name == name && $0.side == side } }
}

/// Measures volumes on the native grid.
public enum VolumeMeasurer {
    /// Per class and side: voxel count, volume (mL), slices, truncation (docs/volumetry.md).
    ///
    /// - Parameter labels: catalog ids on the scan's native grid (never a resampled grid).
    ///
    /// The side analysis is `SideAnalysis.split`'s fast path; voxels are counted per slice in
    /// parallel (integer counts summed afterwards; a class is present on a slice when the
    /// slice's count is positive), the side decided once per row when x is constant along rows.
    public static func measure(_ labels: LabelVolume, catalog: LabelCatalog, region: Region,
                               policy: SidePolicy = SidePolicy()) -> VolumeReport {
        let split = SideAnalysis.split(labels, catalog: catalog, region: region, policy: policy)
        let plan = CountingPlan(labels, catalog: catalog, split: split)
        let nx = plan.nx, ny = plan.ny, nz = plan.nz, maxID = plan.maxID, splitClass = plan.splitClass
        let ax = plan.ax, bx = plan.bx, cx = plan.cx, x0 = plan.x0, mid = plan.mid, whole = plan.whole
        var voxels = [Int](repeating: 0, count: (maxID + 1) * 3)
        var present = [Bool](repeating: false, count: (maxID + 1) * 3 * nz)
        let counters = (maxID + 1) * 3
        var perSlice = [Int](repeating: 0, count: nz * counters)
        labels.data.withUnsafeBufferPointer { lab in
            splitClass.withUnsafeBufferPointer { split in
                perSlice.withUnsafeMutableBufferPointer { counts in
                    let src = SendableBuffer(base: UnsafeMutablePointer(mutating: lab.baseAddress!))
                    let cnt = SendableBuffer(base: counts.baseAddress!)
                    let sp = SendableBuffer(base: UnsafeMutablePointer(mutating: split.baseAddress!))
                    DispatchQueue.concurrentPerform(iterations: nz) { k in
                        let v = cnt.base + k * counters
                        var o = k * nx * ny
                        for j in 0..<ny {
                            let rowX = x0 + Double(j) * bx + Double(k) * cx
                            if ax == 0 {
                                // x constant along the row (i × ±0 adds the same ±0 for every i):
                                // one side per row, counted by runs of equal labels.
                                let side = rowX + Double(0) * ax > mid ? 1 : 0
                                // A block of 8 that repeats the current label only lengthens its run.
                                var current: Int32 = nx > 0 ? src.base[o] : 0, run = 0
                                let raw = UnsafeRawPointer(src.base + o)
                                var i = 0
                                while i < nx {
                                    if i + 8 <= nx && raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Int32>.self) == SIMD8(repeating: current) {
                                        run += 8
                                        i += 8
                                        continue
                                    }
                                    let l = src.base[o + i]
                                    if l != current {
                                        let c = Int(current)
                                        if c > 0 && c <= maxID { v[c * 3 + (sp.base[c] ? side : whole)] += run }
                                        current = l
                                        run = 0
                                    }
                                    run += 1
                                    i += 1
                                }
                                let c = Int(current)
                                if c > 0 && c <= maxID { v[c * 3 + (sp.base[c] ? side : whole)] += run }
                            } else {
                                for i in 0..<nx {
                                    let l = Int(src.base[o + i])
                                    guard l > 0, l <= maxID else { continue }
                                    v[l * 3 + (sp.base[l] ? (rowX + Double(i) * ax > mid ? 1 : 0) : whole)] += 1
                                }
                            }
                            o += nx
                        }
                    }
                }
            }
        }
        // A slice holds a class on a side when its count there is positive.
        for k in 0..<nz {
            for c in 0..<counters where perSlice[k * counters + c] > 0 {
                voxels[c] += perSlice[k * counters + c]
                present[c * nz + k] = true
            }
        }
        return report(plan, voxels: voxels, present: present, labels: labels, catalog: catalog, region: region, split: split)
    }

    /// The reference twin of `measure`: `SideAnalysis.referenceSplit` and one sequential
    /// counting pass. Same report (tested).
    public static func referenceMeasure(_ labels: LabelVolume, catalog: LabelCatalog, region: Region,
                               policy: SidePolicy = SidePolicy()) -> VolumeReport {
        let split = SideAnalysis.referenceSplit(labels, catalog: catalog, region: region, policy: policy)
        let plan = CountingPlan(labels, catalog: catalog, split: split)
        let nx = plan.nx, ny = plan.ny, nz = plan.nz, maxID = plan.maxID, splitClass = plan.splitClass
        let ax = plan.ax, bx = plan.bx, cx = plan.cx, x0 = plan.x0, mid = plan.mid, whole = plan.whole
        var voxels = [Int](repeating: 0, count: (maxID + 1) * 3)
        var present = [Bool](repeating: false, count: (maxID + 1) * 3 * nz)
        labels.data.withUnsafeBufferPointer { lab in
            var o = 0
            for k in 0..<nz {
                for j in 0..<ny {
                    let rowX = x0 + Double(j) * bx + Double(k) * cx
                    for i in 0..<nx {
                        let l = Int(lab[o])
                        o += 1
                        guard l > 0, l <= maxID else { continue }
                        let s = splitClass[l] ? (rowX + Double(i) * ax > mid ? 1 : 0) : whole
                        voxels[l * 3 + s] += 1
                        present[(l * 3 + s) * nz + k] = true
                    }
                }
            }
        }
        return report(plan, voxels: voxels, present: present, labels: labels, catalog: catalog, region: region, split: split)
    }

    /// What both counting passes share: which classes are split at the midline, the index of
    /// the side of unsplit classes (0 left, 1 right, 2 unsplit), and the x coordinate's affine row.
    struct CountingPlan {
        let nx: Int, ny: Int, nz: Int, maxID: Int
        let splitClass: [Bool]
        let wholeSide: BodySide, whole: Int
        let ax: Double, bx: Double, cx: Double, x0: Double, mid: Double

        init(_ labels: LabelVolume, catalog: LabelCatalog, split: SideSplit) {
            let g = labels.grid
            nx = g.shape[0]; ny = g.shape[1]; nz = g.shape[2]
            let maxID = max(catalog.largestID, Int(labels.largestValue() ?? 0), 0)
            self.maxID = maxID
            var splitClass = [Bool](repeating: false, count: maxID + 1)
            switch split.kind {
            case .bilateral: for id in 0...maxID { splitClass[id] = true }
            case .trunk: for name in split.pairedClasses { if let c = catalog.class(named: name) { splitClass[c.id] = true } }
            case .single: break
            }
            self.splitClass = splitClass
            wholeSide = split.kind == .single ? (split.singleSide ?? .unsplit) : .unsplit
            whole = VolumeMeasurer.sideIndex[wholeSide]!
            let a = g.affine
            ax = a[0, 0]; bx = a[0, 1]; cx = a[0, 2]; x0 = a[0, 3]
            mid = split.midlineX ?? 0
        }
    }

    static let sideIndex: [BodySide: Int] = [.left: 0, .right: 1, .unsplit: 2]

    /// The report from the counters (id, side): `voxels`, and slice presence (id, side, k).
    static func report(_ plan: CountingPlan, voxels: [Int], present: [Bool], labels: LabelVolume, catalog: LabelCatalog,
                       region: Region, split: SideSplit) -> VolumeReport {
        let g = labels.grid, nz = plan.nz, maxID = plan.maxID, splitClass = plan.splitClass
        let wholeSide = plan.wholeSide, whole = plan.whole
        var ids = Set(catalog.classes(in: region).map(\.id))
        for id in 1...max(maxID, 1) where voxels[id * 3] + voxels[id * 3 + 1] + voxels[id * 3 + 2] > 0 { ids.insert(id) }
        var rows: [ClassVolume] = []
        let voxelML = g.voxelVolume / 1000
        for id in ids.sorted() {
            let c = catalog.class(id: id)
            let sides: [BodySide] = splitClass[id] ? [.left, .right] : [intrinsicSide(c?.name) ?? wholeSide]
            for side in sides {
                let s = splitClass[id] ? sideIndex[side]! : whole
                let n = voxels[id * 3 + s]
                let base = (id * 3 + s) * nz
                rows.append(ClassVolume(id: id, name: c?.name ?? "label_\(id)", group: c?.group ?? .connective, side: side,
                                        voxels: n, volumeML: Double(n) * voxelML,
                                        slices: (0..<nz).reduce(0) { $0 + (present[base + $1] ? 1 : 0) },
                                        touchesFirstSlice: present[base], touchesLastSlice: present[base + nz - 1]))
            }
        }
        return VolumeReport(region: region, voxelVolumeMM3: g.voxelVolume, sliceCount: nz, sides: split, rows: rows)
    }

    /// The side written in a class's own name (`kidney_left`, `left_kidney`), if any.
    static func intrinsicSide(_ name: String?) -> BodySide? {
        guard let name else { return nil }
        if name.hasSuffix("_left") || name.hasPrefix("left_") { return .left }
        if name.hasSuffix("_right") || name.hasPrefix("right_") { return .right }
        return nil
    }
}
