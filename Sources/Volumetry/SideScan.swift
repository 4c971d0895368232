import Anatomy
import Dispatch
import Foundation
import ImagingCore

/// The fast side analysis: the same passes as the reference (`referenceSplit`), with the
/// order-independent ones in parallel and the order-dependent sums kept in voxel order.
///
/// - The x range of labelled voxels (min and max do not depend on order) is found per slice in
///   parallel.
/// - The linear splat of the x profile adds doubles, so it stays sequential in voxel order;
///   when the rows do not move along x (`a[0,1] == a[0,2] == 0`, every axial scan) each
///   column's bin and weights are computed once instead of per voxel (same formulas, same
///   values).
/// - Class membership tests use a table by id instead of a hashed set.
extension SideAnalysis {
    /// The split of `labels` (catalog ids on the native grid) for a scan of `region`.
    public static func split(_ labels: LabelVolume, catalog: LabelCatalog, region: Region,
                             policy: SidePolicy = SidePolicy()) -> SideSplit {
        switch region {
        case .abdomen:
            return trunkSplit(labels, catalog: catalog, policy: policy)
        case .thigh, .calf:
            return limbSplit(labels, catalog: catalog, region: region, policy: policy)
        }
    }

    /// Calls `body(label, x)` for each labelled voxel of row (j, k) in order, x computed as
    /// `forEachLabelled` computes it.
    @inline(__always)
    static func forEachLabelledFast(_ labels: LabelVolume, _ body: (_ label: Int32, _ x: Double) -> Void) {
        let g = labels.grid, a = g.affine
        let nx = g.shape[0], ny = g.shape[1], nz = g.shape[2]
        let ax = a[0, 0], bx = a[0, 1], cx = a[0, 2], x0 = a[0, 3]
        labels.data.withUnsafeBufferPointer { lab in
            let p = lab.baseAddress!
            var o = 0
            for k in 0..<nz {
                for j in 0..<ny {
                    let rowX = x0 + Double(j) * bx + Double(k) * cx
                    for i in 0..<nx where p[o + i] != 0 { body(p[o + i], rowX + Double(i) * ax) }
                    o += nx
                }
            }
        }
    }

    /// Smallest and largest x of the labelled voxels (lo > hi when none), slices in parallel.
    static func labelledRange(_ labels: LabelVolume) -> (lo: Double, hi: Double) {
        let g = labels.grid, a = g.affine
        let nx = g.shape[0], ny = g.shape[1], nz = g.shape[2]
        let ax = a[0, 0], bx = a[0, 1], cx = a[0, 2], x0 = a[0, 3]
        var parts = [(Double, Double)](repeating: (.infinity, -.infinity), count: nz)
        labels.data.withUnsafeBufferPointer { lab in
            let src = SendableBuffer(base: UnsafeMutablePointer(mutating: lab.baseAddress!))
            parts.withUnsafeMutableBufferPointer { out in
                let dst = SendableBuffer(base: out.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: nz) { k in
                    var lo = Double.infinity, hi = -Double.infinity
                    var o = k * nx * ny
                    for j in 0..<ny {
                        let rowX = x0 + Double(j) * bx + Double(k) * cx
                        for i in 0..<nx where src.base[o + i] != 0 {
                            let x = rowX + Double(i) * ax
                            lo = min(lo, x)
                            hi = max(hi, x)
                        }
                        o += nx
                    }
                    dst.base[k] = (lo, hi)
                }
            }
        }
        var lo = Double.infinity, hi = -Double.infinity
        for (l, h) in parts {
            lo = min(lo, l)
            hi = max(hi, h)
        }
        return (lo, hi)
    }

    static func limbSplit(_ labels: LabelVolume, catalog: LabelCatalog, region: Region, policy: SidePolicy) -> SideSplit {
        let g = labels.grid, a = g.affine
        // Bins at least as wide as one voxel step along x (no empty bins between voxel columns).
        let step = max(abs(a[0, 0]), abs(a[0, 1]), abs(a[0, 2]))
        let width = max(step, 1.0)
        if a[0, 0] == 0 { return limbSplitByRows(labels, width: width, catalog: catalog, region: region, policy: policy) }
        let (lo, hi) = labelledRange(labels)
        guard lo <= hi else {
            return noLabelledVoxels
        }
        let bins = Int(((hi - lo) / width).rounded(.down)) + 2
        var profile = [Double](repeating: 0, count: bins)
        // Linear splatting: a voxel's unit mass goes to its two nearest bin centres.
        if a[0, 1] == 0 && a[0, 2] == 0 {
            // x depends on i alone (rowX is the same double in every row): per-column bins,
            // weights and x. The same pass sums the x of the single-limb reference muscles
            // (`singleLimb`'s sums, in the same voxel order), used when the profile has one lobe.
            let nx = g.shape[0], rows = g.shape[1] * g.shape[2]
            let rowX = a[0, 3] + Double(0) * a[0, 1] + Double(0) * a[0, 2]
            var bin = [Int](repeating: 0, count: nx), w0 = [Double](repeating: 0, count: nx), w1 = w0, xs = w0
            for i in 0..<nx {
                let x = rowX + Double(i) * a[0, 0]
                let t = (x - lo) / width, b = min(Int(t), bins - 2), f = t - Double(b)
                (bin[i], w0[i], w1[i], xs[i]) = (b, 1 - f, f, x)
            }
            let role = limbRoles(catalog: catalog, region: region, policy: policy)
            var sumL = 0.0, nL = 0.0, sumM = 0.0, nM = 0.0
            labels.data.withUnsafeBufferPointer { lab in
                profile.withUnsafeMutableBufferPointer { pr in
                    bin.withUnsafeBufferPointer { bin in
                        w0.withUnsafeBufferPointer { w0 in
                            w1.withUnsafeBufferPointer { w1 in
                                xs.withUnsafeBufferPointer { xs in
                                    role.withUnsafeBufferPointer { role in
                                        let p = pr.baseAddress!, bn = bin.baseAddress!, u = w0.baseAddress!, v = w1.baseAddress!
                                        let roles = role.count
                                        var row = lab.baseAddress!
                                        for _ in 0..<rows {
                                            for i in 0..<nx {
                                                let l = row[i]
                                                guard l != 0 else { continue }
                                                let b = bn[i]
                                                p[b] += u[i]
                                                p[b + 1] += v[i]
                                                guard l > 0 && Int(l) < roles else { continue }
                                                switch role[Int(l)] {
                                                case 1: sumL += xs[i]; nL += 1
                                                case 2: sumM += xs[i]; nM += 1
                                                default: break
                                                }
                                            }
                                            row += nx
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if let m = valley(profile, policy: policy) { return bilateral(lo + m * width) }
            return singleLimbSide(sumL: sumL, nL: nL, sumM: sumM, nM: nM, policy: policy)
        }
        forEachLabelledFast(labels) { _, x in
            let t = (x - lo) / width, b = min(Int(t), bins - 2), f = t - Double(b)
            profile[b] += 1 - f
            profile[b + 1] += f
        }
        if let m = valley(profile, policy: policy) { return bilateral(lo + m * width) }
        return singleLimb(labels, catalog: catalog, region: region, policy: policy)
    }

    /// The outcome when no voxel is labelled: one unsplit side.
    static let noLabelledVoxels = SideSplit(kind: .single, midlineX: nil, singleSide: .unsplit, pairedClasses: [],
                                            method: "no labelled voxels")

    /// The split of two limbs at x (mm).
    static func bilateral(_ x: Double) -> SideSplit {
        SideSplit(kind: .bilateral, midlineX: x, singleSide: nil, pairedClasses: [],
                  method: String(format: "two limbs: body voxel profile along RAS x has its deepest valley between the two limbs at x = %.1f mm", x))
    }

    /// By id: 1 for a lateral reference muscle of the region, 2 for a medial one (not lateral),
    /// else 0 (ids past the end: 0): `singleLimb`'s membership tests as one table.
    static func limbRoles(catalog: LabelCatalog, region: Region, policy: SidePolicy) -> [UInt8] {
        let lateral = (policy.lateralClasses[region.rawValue] ?? []).compactMap { catalog.class(named: $0)?.id }.filter { $0 > 0 }
        let medial = (policy.medialClasses[region.rawValue] ?? []).compactMap { catalog.class(named: $0)?.id }.filter { $0 > 0 }
        var role = [UInt8](repeating: 0, count: (lateral + medial).max().map { $0 + 1 } ?? 0)
        for id in medial { role[id] = 2 }
        for id in lateral { role[id] = 1 }
        return role
    }

    /// A membership table by id for the positive ids in `ids`.
    static func idTable(_ ids: [Int]) -> [Bool] {
        var table = [Bool](repeating: false, count: (ids.filter { $0 >= 0 }.max() ?? -1) + 1)
        for id in ids where id >= 0 { table[id] = true }
        return table
    }

    static func singleLimb(_ labels: LabelVolume, catalog: LabelCatalog, region: Region, policy: SidePolicy) -> SideSplit {
        let lateral = idTable((policy.lateralClasses[region.rawValue] ?? []).compactMap { catalog.class(named: $0)?.id })
        let medial = idTable((policy.medialClasses[region.rawValue] ?? []).compactMap { catalog.class(named: $0)?.id })
        var sumL = 0.0, nL = 0.0, sumM = 0.0, nM = 0.0
        forEachLabelledFast(labels) { l, x in
            if l >= 0 && Int(l) < lateral.count && lateral[Int(l)] {
                sumL += x; nL += 1
            } else if l >= 0 && Int(l) < medial.count && medial[Int(l)] {
                sumM += x; nM += 1
            }
        }
        return singleLimbSide(sumL: sumL, nL: nL, sumM: sumM, nM: nM, policy: policy)
    }

    static func trunkSplit(_ labels: LabelVolume, catalog: LabelCatalog, policy: SidePolicy) -> SideSplit {
        let bone = catalog.class(named: "bone").map { Int32($0.id) }
        var sumB = 0.0, nB = 0.0, sumAll = 0.0, nAll = 0.0
        let boneID = bone ?? 0  // 0 is never a labelled voxel
        forEachLabelledFast(labels) { l, x in
            sumAll += x
            nAll += 1
            if l == boneID { sumB += x; nB += 1 }
        }
        return trunkMidline(sumB: sumB, nB: nB, sumAll: sumAll, nAll: nAll, catalog: catalog, policy: policy)
    }

    /// `limbSplit` when x is constant along rows (`a[0,0] == 0`, e.g. rows running
    /// anterior-posterior): every voxel of row (j, k) has the x of its first voxel, so one
    /// parallel pass counts per row the labelled voxels and the lateral and medial reference
    /// muscles' voxels, and the sequential part adds each row's weights and x as many times as
    /// the row has voxels, rows in order: the same additions in the same order as the reference.
    static func limbSplitByRows(_ labels: LabelVolume, width: Double, catalog: LabelCatalog, region: Region,
                                policy: SidePolicy) -> SideSplit {
        let rows = RowCounts(labels, role: limbRoles(catalog: catalog, region: region, policy: policy))
        var lo = Double.infinity, hi = -Double.infinity
        for r in 0..<rows.count where rows.labelled[r] > 0 {
            let x = rows.x(r)
            lo = min(lo, x)
            hi = max(hi, x)
        }
        guard lo <= hi else {
            return noLabelledVoxels
        }
        let bins = Int(((hi - lo) / width).rounded(.down)) + 2
        var profile = [Double](repeating: 0, count: bins)
        for r in 0..<rows.count where rows.labelled[r] > 0 {
            let x = rows.x(r)
            let t = (x - lo) / width, b = min(Int(t), bins - 2), f = t - Double(b), u = 1 - f
            var p0 = profile[b], p1 = profile[b + 1]
            for _ in 0..<rows.labelled[r] {
                p0 += u
                p1 += f
            }
            profile[b] = p0
            profile[b + 1] = p1
        }
        if let m = valley(profile, policy: policy) { return bilateral(lo + m * width) }
        var sumL = 0.0, nL = 0.0, sumM = 0.0, nM = 0.0
        for r in 0..<rows.count where rows.labelled[r] > 0 {
            let x = rows.x(r)
            for _ in 0..<rows.first[r] { sumL += x }
            for _ in 0..<rows.second[r] { sumM += x }
            nL += Double(rows.first[r])
            nM += Double(rows.second[r])
        }
        return singleLimbSide(sumL: sumL, nL: nL, sumM: sumM, nM: nM, policy: policy)
    }
}

/// Per row (j, k), row index `k * ny + j`: how many voxels are labelled (non-zero), and how many
/// have role 1 and role 2 in `role` (by id; ids past its end or negative: no role). Slices in
/// parallel.
struct RowCounts {
    let count: Int
    var labelled: [Int], first: [Int], second: [Int]
    let ny: Int, ax: Double, bx: Double, cx: Double, x0: Double

    init(_ labels: LabelVolume, role: [UInt8]) {
        let g = labels.grid, a = g.affine
        let nx = g.shape[0], ny = g.shape[1], nz = g.shape[2]
        self.ny = ny
        (ax, bx, cx, x0) = (a[0, 0], a[0, 1], a[0, 2], a[0, 3])
        count = ny * nz
        var labelled = [Int](repeating: 0, count: count), first = labelled, second = labelled
        labels.data.withUnsafeBufferPointer { lab in
            role.withUnsafeBufferPointer { role in
                labelled.withUnsafeMutableBufferPointer { n in
                    first.withUnsafeMutableBufferPointer { n1 in
                        second.withUnsafeMutableBufferPointer { n2 in
                            let src = SendableBuffer(base: UnsafeMutablePointer(mutating: lab.baseAddress!))
                            let roles = role.count, rl = role.baseAddress.map { SendableBuffer(base: UnsafeMutablePointer(mutating: $0)) }
                            let out = (SendableBuffer(base: n.baseAddress!), SendableBuffer(base: n1.baseAddress!), SendableBuffer(base: n2.baseAddress!))
                            DispatchQueue.concurrentPerform(iterations: nz) { k in
                                for j in 0..<ny {
                                    let r = k * ny + j, row = src.base + r * nx
                                    var c = 0, c1 = 0, c2 = 0
                                    // Counts a voxel of label l adds (labelled, role 1, role 2).
                                    @inline(__always) func adds(_ l: Int32) -> (Int, Int, Int) {
                                        guard l != 0 else { return (0, 0, 0) }
                                        guard l > 0 && Int(l) < roles, let rl else { return (1, 0, 0) }
                                        let q = rl.base[Int(l)]
                                        return (1, q == 1 ? 1 : 0, q == 2 ? 1 : 0)
                                    }
                                    // A block of 8 that repeats the last label adds 8 times its counts.
                                    var last: Int32 = 0, lastAdds = (0, 0, 0)
                                    let raw = UnsafeRawPointer(row)
                                    var i = 0
                                    while i < nx {
                                        if i + 8 <= nx && raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Int32>.self) == SIMD8(repeating: last) {
                                            c += 8 * lastAdds.0; c1 += 8 * lastAdds.1; c2 += 8 * lastAdds.2
                                            i += 8
                                            continue
                                        }
                                        let l = row[i]
                                        if l != last { last = l; lastAdds = adds(l) }
                                        c += lastAdds.0; c1 += lastAdds.1; c2 += lastAdds.2
                                        i += 1
                                    }
                                    out.0.base[r] = c; out.1.base[r] = c1; out.2.base[r] = c2
                                }
                            }
                        }
                    }
                }
            }
        }
        (self.labelled, self.first, self.second) = (labelled, first, second)
    }

    /// The x of every voxel of row `r` as `forEachLabelled` computes it: the row's start plus
    /// i × a[0,0], where a[0,0] is ±0, so every i gives the x of i = 0 (same sign of zero too).
    func x(_ r: Int) -> Double {
        let j = r % ny, k = r / ny
        return x0 + Double(j) * bx + Double(k) * cx + Double(0) * ax
    }
}
