import Anatomy
import Dispatch
import ImagingCore

/// Builds phantoms: anatomy from the seed, acquisition from the visit, then labels, image and
/// exact volumes, in parallel over slices and deterministic for a request.
public enum PhantomGenerator {
    /// Streams of the seed (so adding a draw to one never changes another).
    enum Stream: UInt64 { case anatomy = 1, left, acquisition, appearance, noise, pose }

    public static func generate(_ request: PhantomRequest, catalog: LabelCatalog) throws(ImagingError) -> Phantom {
        precondition(request.visit >= 1, "visits are numbered from 1")
        let needed = neededClasses[request.region]!
        let ids = try ClassIDs(catalog: catalog, region: request.region, needed: needed)
        let seed = request.seed, visit = UInt64(request.visit)
        var anatomyRNG = SplitMix64(seed: seed, stream: Stream.anatomy.rawValue)
        var poseRNG = SplitMix64(seed: seed, stream: Stream.pose.rawValue, visit)
        // Fat infiltration and subcutaneous fat are subject traits; a later visit moves them a
        // little (±0.02, ±6 %). Visit 1 is the subject's baseline.
        let baseline = anatomyRNG.uniform(0.02, 0.3)
        let infiltration = request.visit == 1 ? baseline : min(max(baseline + poseRNG.uniform(-0.02, 0.02), 0), 0.35)
        let fatScale = request.visit == 1 ? 1 : poseRNG.uniform(0.94, 1.06)

        var parts: [Part] = []
        var length = 0.0, fatMM = 0.0
        let bilateral = request.bilateral && request.region != .abdomen
        switch request.region {
        case .thigh, .calf:
            let makeModel = { (rng: inout SplitMix64) -> any LimbModel in
                request.region == .thigh ? ThighModel(rng: &rng, infiltration: infiltration, fatScale: fatScale)
                    : CalfModel(rng: &rng, infiltration: infiltration, fatScale: fatScale)
            }
            var rightRNG = anatomyRNG
            let right = makeModel(&rightRNG)
            // The other limb: the same subject, sizes a few per cent different.
            var leftRNG = SplitMix64(seed: seed, stream: Stream.left.rawValue)
            let left = bilateral ? makeModel(&leftRNG) : right
            length = right.length
            fatMM = (right as? ThighModel)?.fat ?? (right as? CalfModel)?.fat ?? 0
            let single: Side = anatomyRNG.uniform() < 0.5 ? .left : .right
            let sides: [Side] = bilateral ? [.left, .right] : [single]
            for side in sides {
                let model = side == .left && bilateral ? blend(right, left, request.region) : right
                let L = length
                let psi = deg(poseRNG.uniform(-12, 12))
                parts.append(Part(centre: .zero, cosPsi: cos(psi), sinPsi: sin(psi), mirror: side == .right ? 1 : -1, side: side,
                                  section: { z in model.section(at: (L / 2 - z) / L, ids: ids.callAsFunction).build(ids.callAsFunction) }))
            }
        case .abdomen:
            let model = AbdomenModel(rng: &anatomyRNG, fatScale: fatScale)
            length = model.length
            fatMM = model.fat
            let L = length
            let psi = deg(poseRNG.uniform(-5, 5))
            parts.append(Part(centre: .zero, cosPsi: cos(psi), sinPsi: sin(psi), mirror: 1, side: nil,
                              section: { z in model.section(at: (L / 2 - z) / L, ids: ids.callAsFunction) }))
        }

        // Slab: always covers the middle of the segment, where every class is present.
        var acqRNG = SplitMix64(seed: seed, stream: Stream.acquisition.rawValue, visit)
        let (n, dz) = Acquisition.slab(rng: &acqRNG, slices: request.slices, thickness: request.sliceThickness,
                                       coverage: 0.32 * length)
        let tc = acqRNG.uniform(0.44, 0.54)
        let zc = length / 2 - tc * length
        // Each part's bounding box over the slab (body-frame offsets from its centre), then the
        // in-plane layout: limbs side by side with a gap, the field of view centred on the box.
        var boxes: [(lo: SIMD2<Double>, hi: SIMD2<Double>)] = []
        for part in parts {
            var box = (lo: SIMD2<Double>(repeating: .infinity), hi: SIMD2<Double>(repeating: -.infinity))
            for k in stride(from: 0, through: n - 1, by: max(1, n / 12)) + [n - 1] {
                let b = part.bounds(part.section(zc + (Double(k) - Double(n - 1) / 2) * dz))
                box = (pointwiseMin(box.lo, b.lo), pointwiseMax(box.hi, b.hi))
            }
            boxes.append(box)
        }
        if parts.count == 2 {
            let gap = acqRNG.uniform(8, 40)
            parts[0].centre = SIMD2(-gap / 2 - boxes[0].hi.x, acqRNG.uniform(-8, 8))
            parts[1].centre = SIMD2(gap / 2 - boxes[1].lo.x, acqRNG.uniform(-8, 8))
        }
        var lo = SIMD2<Double>(repeating: .infinity), hi = SIMD2<Double>(repeating: -.infinity)
        for (p, part) in parts.enumerated() {
            lo = pointwiseMin(lo, part.centre + boxes[p].lo)
            hi = pointwiseMax(hi, part.centre + boxes[p].hi)
        }
        let half = (hi - lo) / 2
        let acq = Acquisition.make(rng: &acqRNG, centre: (hi + lo) / 2, halfExtent: half, n: n, dz: dz, zc: zc,
                                   matrix: request.matrix, spacing: request.spacing, oblique: request.oblique)
        var appRNG = SplitMix64(seed: seed, stream: Stream.appearance.rawValue, visit)
        let appearance = request.region == .abdomen
            ? Appearance.ct(catalog: ids.callAsFunction, rng: &appRNG)
            : Appearance.mr(catalog: ids.callAsFunction, groups: ids.groups, infiltration: infiltration, rng: &appRNG)
        let body = Body(parts: parts)

        let raster = Rasterizer(body: body, acquisition: acq, appearance: appearance, seed: seed, visit: visit)
        let (labels, image, counts) = raster.render()
        let exact = ExactVolumes.integrate(body: body, acquisition: acq, rays: request.rays)

        let grid = Grid(shape: acq.shape, affine: acq.affine)
        var classes: [PhantomTruth.ClassTruth] = []
        let voxelVolume = grid.voxelVolume
        for c in catalog.classes(in: request.region) {
            let id = c.id
            var bySide: [String: Double]? = nil
            if request.region != .abdomen {
                var d: [String: Double] = [:]
                for (p, part) in parts.enumerated() { d[part.side!.rawValue] = exact.byPart[p][id] / 1000 }
                bySide = d
            }
            let total = exact.byPart.reduce(0) { $0 + $1[id] }
            classes.append(.init(id: id, name: c.name, exactML: total / 1000, voxelML: Double(counts.voxels[id]) * voxelVolume / 1000,
                                 voxelCount: counts.voxels[id], boundaryVoxels: counts.boundary[id],
                                 partialVolumeBoundML: (0.5 * Double(counts.boundary[id]) + 1) * voxelVolume / 1000,
                                 exactMLBySide: bySide))
        }
        let t0 = tc - Double(n) * dz / 2 / length, t1 = tc + Double(n) * dz / 2 / length
        let params = PhantomTruth.Parameters(
            shape: acq.shape, spacingMM: acq.spacing, sliceThicknessMM: dz, axisCodes: grid.affine.axisCodes,
            obliqueDegrees: acq.obliqueDegrees, bilateral: bilateral, sides: parts.compactMap(\.side),
            segmentLengthMM: length, coveredFraction: [t0, t1], subcutaneousFatMM: fatMM, fatInfiltration: infiltration,
            intensityScale: appearance.scale, noiseSigma: appearance.sigma, modality: appearance.isCT ? "CT" : "MR",
            rays: request.rays, nodesPerSlice: ExactVolumes.nodes.count)
        let truth = PhantomTruth(subject: request.subject, visit: request.visit, region: request.region, seed: seed,
                                 parameters: params, voxelVolumeMM3: voxelVolume, classes: classes)
        return Phantom(request: request, image: ImageVolume(grid: grid, data: image),
                       labels: LabelVolume(grid: grid, data: labels), metadata: metadata(request, ct: appearance.isCT),
                       truth: truth)
    }

    /// The left limb: the right limb's model with sizes moved a few per cent toward an
    /// independent draw, so the sides differ like a real subject's.
    static func blend(_ right: any LimbModel, _ other: any LimbModel, _ region: Region) -> any LimbModel {
        if let r = right as? ThighModel, let o = other as? ThighModel { return r.mixed(with: o, weight: 0.15) }
        if let r = right as? CalfModel, let o = other as? CalfModel { return r.mixed(with: o, weight: 0.15) }
        return right
    }

    /// Scan metadata with deterministic pseudonymous identifiers.
    static func metadata(_ r: PhantomRequest, ct: Bool) -> ScanMetadata {
        var m = ScanMetadata()
        m.modality = ct ? "CT" : "MR"
        m.bodyPartExamined = ["thigh": "THIGH", "calf": "LEG", "abdomen": "ABDOMEN"][r.region.rawValue]
        m.seriesDescription = "segvol phantom \(r.region.rawValue) seed \(r.seed) visit \(r.visit)"
        m.patientID = r.subject
        m.studyDate = String(format: "2026%02d%02d", 1 + (r.visit - 1) % 12, 1 + (r.visit * 7) % 28)
        m.manufacturer = "segvol"
        m.magneticFieldStrength = ct ? nil : 3
        m.seriesNumber = r.visit
        m.studyInstanceUID = uid(r, 1)
        m.seriesInstanceUID = uid(r, 2)
        return m
    }

    /// A DICOM UID under the UUID-derived root 2.25 from the request (stable per request).
    static func uid(_ r: PhantomRequest, _ kind: UInt64) -> String {
        var g = SplitMix64(seed: r.seed, stream: UInt64(r.visit), kind, UInt64(Region.allCases.firstIndex(of: r.region)!))
        return "2.25.\(g.next() >> 1)\(g.next() % 1_000_000)"
    }

    /// The classes each model paints (every catalog class of the region in the shipped catalog).
    static let neededClasses: [Region: [String]] = [
        .thigh: ["adductor_magnus", "adductor_longus", "adductor_brevis", "biceps_femoris_long_head",
                 "biceps_femoris_short_head", "gracilis", "rectus_femoris", "sartorius", "semimembranosus",
                 "semitendinosus", "vastus_intermedius", "vastus_lateralis", "vastus_medialis",
                 "subcutaneous_fat", "imaf", "bone", "bone_marrow", "vessel", "fascia"],
        .calf: ["tibialis_anterior", "tibialis_posterior", "soleus", "gastrocnemius", "flexor_digitorum_longus",
                "peroneus_longus", "extensor_digitorum_longus", "subcutaneous_fat", "imaf", "bone", "bone_marrow",
                "vessel", "fascia"],
        .abdomen: ["liver", "spleen", "pancreas", "kidney_left", "kidney_right", "subcutaneous_fat", "visceral_fat",
                   "psoas", "paraspinal_muscle", "abdominal_wall_muscle", "bone", "bone_marrow", "vessel"],
    ]
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation
