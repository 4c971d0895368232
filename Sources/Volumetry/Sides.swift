import Anatomy
import Foundation
import ImagingCore

/// The patient side a volume row belongs to.
public enum BodySide: String, Codable, Sendable, CaseIterable {
    case left
    case right
    /// The whole class, not split by side (a single limb whose side could not be told, or an
    /// unpaired structure such as the liver).
    case unsplit
}

/// How a scan's voxels were assigned to sides (docs/volumetry.md).
///
/// Sides come from world (RAS) x only, never from image columns: RAS +x points to the patient's
/// right, so a voxel whose centre has x > `midlineX` is on the right.
public struct SideSplit: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        /// Two limbs: every class is split at the sagittal plane x = `midlineX`.
        case bilateral
        /// One limb: the whole scan is `singleSide` (left, right, or unsplit when not determinable).
        case single
        /// Abdomen: the classes in `pairedClasses` are split at x = `midlineX`; others are unsplit.
        case trunk
    }
    public var kind: Kind
    /// RAS x (mm) of the splitting plane (bilateral and trunk).
    public var midlineX: Double?
    /// The side of a single-limb scan.
    public var singleSide: BodySide?
    /// Class names split at the midline in a trunk scan.
    public var pairedClasses: [String]
    /// How the split was found, in a sentence (recorded in the manifest).
    public var method: String
}

/// Settings of side assignment.
public struct SidePolicy: Codable, Equatable, Sendable {
    /// Trunk classes that come in left/right pairs sharing one class (split at the midline).
    public var abdomenPairedClasses: [String] = ["psoas", "paraspinal_muscle"]
    /// A limb scan is bilateral when the smaller side holds at least this share of the body voxels…
    public var minimumSideShare = 0.15
    /// …and the body's x-profile at the midline is at most this fraction of the smaller side's peak.
    public var maximumValleyRatio = 0.25
    /// A single limb's side is told only when its lateral and medial muscles' centroids are at
    /// least this far apart along x (mm).
    public var minimumLateralOffsetMM = 5.0
    /// Per limb region: classes lying lateral and medial in the limb (centroids compared along x).
    public var lateralClasses: [String: [String]] = [
        "thigh": ["vastus_lateralis", "biceps_femoris_long_head"],
        "calf": ["peroneus_longus"],
    ]
    public var medialClasses: [String: [String]] = [
        "thigh": ["vastus_medialis", "gracilis", "adductor_magnus"],
        "calf": ["flexor_digitorum_longus"],
    ]

    public init() {}
}

/// Finds how to split a label map by side.
public enum SideAnalysis {
    /// The reference twin of `split` (SideScan.swift): every pass through `forEachLabelled`.
    /// Same result, bit for bit (tested).
    public static func referenceSplit(_ labels: LabelVolume, catalog: LabelCatalog, region: Region,
                                      policy: SidePolicy = SidePolicy()) -> SideSplit {
        switch region {
        case .abdomen:
            return referenceTrunkSplit(labels, catalog: catalog, policy: policy)
        case .thigh, .calf:
            return referenceLimbSplit(labels, catalog: catalog, region: region, policy: policy)
        }
    }

    /// World x of every voxel centre along a row, computed incrementally: x(i, j, k) = x0 + i·a + j·b + k·c.
    static func forEachLabelled(_ labels: LabelVolume, _ body: (_ label: Int32, _ x: Double) -> Void) {
        let g = labels.grid, a = g.affine
        let nx = g.shape[0], ny = g.shape[1], nz = g.shape[2]
        let ax = a[0, 0], bx = a[0, 1], cx = a[0, 2], x0 = a[0, 3]
        labels.data.withUnsafeBufferPointer { lab in
            var o = 0
            for k in 0..<nz {
                for j in 0..<ny {
                    let rowX = x0 + Double(j) * bx + Double(k) * cx
                    for i in 0..<nx {
                        let l = lab[o]
                        if l != 0 { body(l, rowX + Double(i) * ax) }
                        o += 1
                    }
                }
            }
        }
    }

    // MARK: Limbs

    static func referenceLimbSplit(_ labels: LabelVolume, catalog: LabelCatalog, region: Region, policy: SidePolicy) -> SideSplit {
        let a = labels.grid.affine
        // Bins at least as wide as one voxel step along x (no empty bins between voxel columns).
        let step = max(abs(a[0, 0]), abs(a[0, 1]), abs(a[0, 2]))
        let width = max(step, 1.0)
        var lo = Double.infinity, hi = -Double.infinity
        forEachLabelled(labels) { _, x in
            lo = min(lo, x)
            hi = max(hi, x)
        }
        guard lo <= hi else {
            return noLabelledVoxels
        }
        let bins = Int(((hi - lo) / width).rounded(.down)) + 2
        var profile = [Double](repeating: 0, count: bins)
        // Linear splatting: a voxel's unit mass goes to its two nearest bin centres.
        forEachLabelled(labels) { _, x in
            let t = (x - lo) / width, b = min(Int(t), bins - 2), f = t - Double(b)
            profile[b] += 1 - f
            profile[b + 1] += f
        }
        if let m = valley(profile, policy: policy) { return bilateral(lo + m * width) }
        return referenceSingleLimb(labels, catalog: catalog, region: region, policy: policy)
    }

    /// The midline (in bins) of a two-lobed profile, or nil when it has one lobe.
    ///
    /// Otsu's threshold splits the profile into two classes of maximal between-class variance; the
    /// valley is the lowest (smoothed) bin between the two class means (the middle of the run of
    /// lowest bins, so an empty gap is split in its middle). Two lobes need each side to hold
    /// `minimumSideShare` of the mass and the valley to be at most `maximumValleyRatio` of the
    /// smaller side's peak.
    static func valley(_ raw: [Double], policy: SidePolicy) -> Double? {
        let n = raw.count
        guard n >= 3 else { return nil }
        var p = raw
        for b in 0..<n { p[b] = (raw[max(b - 1, 0)] + 2 * raw[b] + raw[min(b + 1, n - 1)]) / 4 }
        let total = p.reduce(0, +)
        guard total > 0 else { return nil }
        // Otsu over bin positions.
        let totalMoment = p.enumerated().reduce(0) { $0 + Double($1.offset) * $1.element }
        var w0 = 0.0, m0 = 0.0, bestVar = -1.0, cut = 0, left = 0.0, leftMoment = 0.0
        for b in 0..<(n - 1) {
            w0 += p[b]
            m0 += Double(b) * p[b]
            let w1 = total - w0
            guard w0 > 0, w1 > 0 else { continue }
            let mu0 = m0 / w0, mu1 = (totalMoment - m0) / w1
            let v = w0 * w1 * (mu0 - mu1) * (mu0 - mu1)
            if v > bestVar { (bestVar, cut, left, leftMoment) = (v, b, w0, m0) }
        }
        let right = total - left
        guard bestVar > 0, min(left, right) >= policy.minimumSideShare * total else { return nil }
        let mu0 = Int((leftMoment / left).rounded()), mu1 = Int(((totalMoment - leftMoment) / right).rounded())
        guard mu0 < mu1 else { return nil }
        let lowest = p[mu0...mu1].min()!
        // The run of lowest bins containing the first lowest bin.
        let first = (mu0...mu1).first { p[$0] == lowest }!
        var last = first
        while last + 1 <= mu1 && p[last + 1] == lowest { last += 1 }
        let peak = min(p[0...cut].max()!, p[(cut + 1)...].max()!)
        guard lowest <= policy.maximumValleyRatio * peak else { return nil }
        return Double(first + last) / 2
    }

    /// One limb: right when its lateral muscles lie at larger x than its medial ones (the lateral
    /// side of a right limb points to the patient's right, +x), left when smaller, else unsplit.
    static func referenceSingleLimb(_ labels: LabelVolume, catalog: LabelCatalog, region: Region, policy: SidePolicy) -> SideSplit {
        let lateral = Set((policy.lateralClasses[region.rawValue] ?? []).compactMap { catalog.class(named: $0)?.id }.map(Int32.init))
        let medial = Set((policy.medialClasses[region.rawValue] ?? []).compactMap { catalog.class(named: $0)?.id }.map(Int32.init))
        var sumL = 0.0, nL = 0.0, sumM = 0.0, nM = 0.0
        forEachLabelled(labels) { l, x in
            if lateral.contains(l) { sumL += x; nL += 1 } else if medial.contains(l) { sumM += x; nM += 1 }
        }
        return singleLimbSide(sumL: sumL, nL: nL, sumM: sumM, nM: nM, policy: policy)
    }

    /// The side of one limb from the x sums and counts of its lateral and medial reference
    /// muscles (shared by the fast scan in SideScan.swift).
    static func singleLimbSide(sumL: Double, nL: Double, sumM: Double, nM: Double, policy: SidePolicy) -> SideSplit {
        guard nL > 0, nM > 0 else {
            return SideSplit(kind: .single, midlineX: nil, singleSide: .unsplit, pairedClasses: [],
                             method: "one limb; its side is not determinable (lateral or medial reference muscles absent)")
        }
        let offset = sumL / nL - sumM / nM
        guard abs(offset) >= policy.minimumLateralOffsetMM else {
            return SideSplit(kind: .single, midlineX: nil, singleSide: .unsplit, pairedClasses: [],
                             method: String(format: "one limb; its side is not determinable (lateral and medial muscles only %.1f mm apart along x)", abs(offset)))
        }
        let side: BodySide = offset > 0 ? .right : .left
        return SideSplit(kind: .single, midlineX: nil, singleSide: side, pairedClasses: [],
                         method: String(format: "one limb, %@: its lateral muscles lie %.1f mm toward patient %@ of its medial ones", side.rawValue, abs(offset), side.rawValue))
    }

    // MARK: Trunk

    /// The abdomen's midline: the centroid x of the bone class (spine, ribs, pelvis: symmetric),
    /// or of all labelled voxels when no bone was segmented.
    static func referenceTrunkSplit(_ labels: LabelVolume, catalog: LabelCatalog, policy: SidePolicy) -> SideSplit {
        let bone = catalog.class(named: "bone").map { Int32($0.id) }
        var sumB = 0.0, nB = 0.0, sumAll = 0.0, nAll = 0.0
        forEachLabelled(labels) { l, x in
            sumAll += x
            nAll += 1
            if l == bone { sumB += x; nB += 1 }
        }
        return trunkMidline(sumB: sumB, nB: nB, sumAll: sumAll, nAll: nAll, catalog: catalog, policy: policy)
    }

    /// The trunk's midline from the x sums and counts of bone and of all labelled voxels
    /// (shared by the fast scan in SideScan.swift).
    static func trunkMidline(sumB: Double, nB: Double, sumAll: Double, nAll: Double, catalog: LabelCatalog,
                             policy: SidePolicy) -> SideSplit {
        let paired = policy.abdomenPairedClasses.filter { catalog.class(named: $0) != nil }
        if nB > 0 {
            let x = sumB / nB
            return SideSplit(kind: .trunk, midlineX: x, singleSide: nil, pairedClasses: paired,
                             method: String(format: "trunk: midline at the centroid of bone, x = %.1f mm", x))
        }
        let x = nAll > 0 ? sumAll / nAll : 0
        return SideSplit(kind: .trunk, midlineX: x, singleSide: nil, pairedClasses: paired,
                         method: String(format: "trunk: no bone segmented; midline at the centroid of all labelled voxels, x = %.1f mm", x))
    }
}
