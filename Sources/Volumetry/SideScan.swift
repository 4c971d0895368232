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
        let (lo, hi) = labelledRange(labels)
        guard lo <= hi else {
            return SideSplit(kind: .single, midlineX: nil, singleSide: .unsplit, pairedClasses: [],
                             method: "no labelled voxels")
        }
        let bins = Int(((hi - lo) / width).rounded(.down)) + 2
        var profile = [Double](repeating: 0, count: bins)
        // Linear splatting: a voxel's unit mass goes to its two nearest bin centres.
        if a[0, 1] == 0 && a[0, 2] == 0 {
            // x depends on i alone (rowX is the same double in every row): per-column bins.
            let nx = g.shape[0], rows = g.shape[1] * g.shape[2]
            let rowX = a[0, 3] + Double(0) * a[0, 1] + Double(0) * a[0, 2]
            var bin = [Int](repeating: 0, count: nx), w0 = [Double](repeating: 0, count: nx), w1 = w0
            for i in 0..<nx {
                let x = rowX + Double(i) * a[0, 0]
                let t = (x - lo) / width, b = min(Int(t), bins - 2), f = t - Double(b)
                (bin[i], w0[i], w1[i]) = (b, 1 - f, f)
            }
            labels.data.withUnsafeBufferPointer { lab in
                profile.withUnsafeMutableBufferPointer { pr in
                    var o = 0
                    for _ in 0..<rows {
                        for i in 0..<nx where lab[o + i] != 0 {
                            pr[bin[i]] += w0[i]
                            pr[bin[i] + 1] += w1[i]
                        }
                        o += nx
                    }
                }
            }
        } else {
            forEachLabelledFast(labels) { _, x in
                let t = (x - lo) / width, b = min(Int(t), bins - 2), f = t - Double(b)
                profile[b] += 1 - f
                profile[b + 1] += f
            }
        }
        if let m = valley(profile, policy: policy) {
            let x = lo + m * width
            return SideSplit(kind: .bilateral, midlineX: x, singleSide: nil, pairedClasses: [],
                             method: String(format: "two limbs: body voxel profile along RAS x has its deepest valley between the two limbs at x = %.1f mm", x))
        }
        return singleLimb(labels, catalog: catalog, region: region, policy: policy)
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
}
