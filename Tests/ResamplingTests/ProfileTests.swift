import Foundation
import ImagingCore
import Testing
@testable import Resampling

/// A grid along `codes` whose field-of-view centre is at `centre`.
func centredGrid(_ codes: String, shape: [Int], spacing: SIMD3<Double>, centre: SIMD3<Double> = SIMD3(3.25, -20.5, 41)) -> Grid {
    var g = makeGrid(codes, shape: shape, spacing: spacing)
    let mid = g.affine.applyLinear(SIMD3(Double(shape[0] - 1), Double(shape[1] - 1), Double(shape[2] - 1)) / 2)
    g.affine.origin = centre - mid
    return g
}

@Suite("Region profiles")
struct ProfileTests {
    @Test("the profile grid keeps the field of view's extent and centre, and the slices")
    func gridChoice() throws {
        let source = centredGrid("LPS", shape: [100, 80, 20], spacing: SIMD3(0.9, 0.9, 3.0))
        let t = try ProfileTransform(source: source, profile: .calf)
        let target = t.targetGrid, canon = t.reorientation.canonicalGrid
        #expect(target.shape == [167, 134, 20])            // ceil(90 / 0.54), ceil(72 / 0.54)
        #expect(target.affine.axisCodes == "RAS")
        #expect(abs(target.spacing.x - 0.54) < 1e-12 && abs(target.spacing.y - 0.54) < 1e-12)
        #expect(target.affine.column(2) == canon.affine.column(2))
        for k in 0..<20 {
            let a = target.affine.apply(SIMD3(83, 66.5, Double(k)))
            let b = canon.affine.apply(SIMD3(49.5, 39.5, Double(k)))
            #expect((a - b).length < 1e-9)
        }
        let abdomen = try ProfileTransform(source: centredGrid("RAS", shape: [64, 64, 20], spacing: SIMD3(0.9, 0.9, 2.0)), profile: .abdomen)
        #expect(abdomen.targetGrid.shape == [39, 39, 12])  // ceil(57.6 / 1.5), ceil(40 / 3.5)
        // Same spacing: same grid (the 1e-6 in the size rule absorbs 512 * 0.78 / 0.78 rounding).
        let thigh = centredGrid("RAS", shape: [512, 512, 4], spacing: SIMD3(0.78, 0.78, 6))
        let same = try ProfileTransform(source: thigh, profile: .thigh)
        #expect(same.targetGrid.shape == thigh.shape)
        #expect(same.targetGrid.affine.maxDifference(to: thigh.affine) < 1e-9)
    }

    @Test("a field of view too large for the profile fails with profile_too_large before any allocation")
    func tooLarge() throws {
        // Metres written as millimetres: 32 voxels of 1e6 mm would need 18 million voxels a side.
        let huge = centredGrid("RAS", shape: [32, 32, 8], spacing: SIMD3(1e6, 1e6, 1e6))
        #expect(throws: ImagingError.self) { try ProfileTransform(source: huge, profile: .thigh) }
        do {
            _ = try ProfileTransform(source: huge, profile: .thigh)
        } catch {
            #expect(error.code == .profileTooLarge)
            #expect(error.reason.contains("32000000 × 32000000 × 8000000 mm"))
        }
        // Spacings so large that the grid size overflows Int: still an error, never a trap.
        let absurd = centredGrid("RAS", shape: [2, 2, 2], spacing: SIMD3(1e300, 1e300, 1e300))
        #expect(throws: ImagingError.self) { try ProfileTransform(source: absurd, profile: .abdomen) }
        // At the limits: 4096 voxels along R pass, 4097 fail; the total bound counts the slices.
        let edge = centredGrid("RAS", shape: [4096, 1, 1], spacing: SIMD3(0.78, 0.78, 5))
        #expect(try ProfileTransform(source: edge, profile: .thigh).targetGrid.shape == [4096, 1, 1])
        let over = centredGrid("RAS", shape: [4097, 1, 1], spacing: SIMD3(0.78, 0.78, 5))
        #expect(throws: ImagingError.self) { try ProfileTransform(source: over, profile: .thigh) }
        let slices = centredGrid("RAS", shape: [4096, 4096, 17], spacing: SIMD3(0.78, 0.78, 5))
        #expect(throws: ImagingError.self) { try ProfileTransform(source: slices, profile: .thigh) }
        let ok = centredGrid("RAS", shape: [4096, 4096, 16], spacing: SIMD3(0.78, 0.78, 5))
        #expect(throws: Never.self) { try ResampleProfile.thigh.checkSize(covering: ok) }
    }

    @Test("an image on the profile grid has the analytic values of a linear ramp")
    func forwardRamp() throws {
        let source = centredGrid("PIR", shape: [30, 12, 26], spacing: SIMD3(0.9, 2.5, 0.9))
        let (image, t) = try toProfile(sampled(source, ramp), profile: .calf)
        let inv = source.affine.inverse!
        var checked = 0
        forEachVoxel(t.targetGrid) { i, j, k in
            let w = world(t.targetGrid, i, j, k)
            let p = inv.apply(w)
            guard (0..<3).allSatisfy({ p[$0] >= -1e-9 && p[$0] <= Double(source.shape[$0] - 1) + 1e-9 }) else { return }
            #expect(abs(image[i, j, k] - ramp(w)) < 1e-3)
            checked += 1
        }
        #expect(checked > 5000)
    }

    /// Disjoint test objects: label and signed distance (mm, negative inside).
    typealias Object = (label: Int32, distance: @Sendable (SIMD3<Double>) -> Double)

    /// Rasterises objects at the centres of `grid` (0 = background).
    func rasterise(_ grid: Grid, _ objects: [Object]) -> LabelVolume {
        var v = LabelVolume(grid: grid, repeating: 0)
        forEachVoxel(grid) { i, j, k in
            let w = world(grid, i, j, k)
            if let o = objects.first(where: { $0.distance(w) <= 0 }) { v[i, j, k] = o.label }
        }
        return v
    }

    /// Checks a native label map against the truth under the bound of docs/resampling.md:
    /// every changed voxel lies within `r` mm of an object's surface, and each object's volume
    /// changes by at most (voxels within `r` of its surface) × voxel volume. Returns the changes.
    /// `informative` lists the objects large enough, relative to `r`, for the bound to be below
    /// their own volume (checked, so the test cannot pass vacuously).
    func checkBound(_ result: LabelVolume, truth: LabelVolume, objects: [Object], r: Double, informative: Set<Int32>) -> Int {
        let g = truth.grid
        var changed = 0, confined = true
        var count = [Int32: Int](), truthCount = [Int32: Int](), band = [Int32: Int]()
        forEachVoxel(g) { i, j, k in
            let w = world(g, i, j, k)
            let d = objects.map { abs($0.distance(w)) }
            for (o, dist) in zip(objects, d) where dist <= r { band[o.label, default: 0] += 1 }
            count[result[i, j, k], default: 0] += 1
            truthCount[truth[i, j, k], default: 0] += 1
            if result[i, j, k] != truth[i, j, k] {
                changed += 1
                if d.min()! > r + 1e-9 { confined = false }
            }
        }
        #expect(confined, "a changed voxel lies farther than \(r) mm from every surface")
        for o in objects {
            let dv = abs(count[o.label, default: 0] - truthCount[o.label, default: 0])
            let bound = band[o.label, default: 0]
            #expect(dv <= bound, "label \(o.label): |ΔV| = \(dv) voxels > bound \(bound)")
            if informative.contains(o.label) {
                #expect(bound < truthCount[o.label, default: 0], "bound is vacuous for label \(o.label)")
            }
        }
        return changed
    }

    /// Worst-case displacement (mm) of nearest(profile) then nearest(native): per native axis
    /// s * floor(1/2 + s'/(2 s)) on resampled axes, 0 on kept slices (docs/resampling.md).
    func roundTripRadius(_ t: ProfileTransform) -> Double {
        var r2 = 0.0
        for q in 0..<3 {
            let a = t.reorientation.sourceAxis.firstIndex(of: q)!
            guard let target = a < 2 ? t.profile.inPlaneSpacing : t.profile.sliceSpacing else { continue }
            let s = t.sourceGrid.spacing[q]
            let d = s * (0.5 + target / (2 * s)).rounded(.down)
            r2 += d * d
        }
        return r2.squareRoot()
    }

    static let calfObjects: [Object] = [
        (1, { sphereDistance($0, centre: SIMD3(3.25 - 13, -20.5 - 12, 41), radius: 12) }),
        (2, { cylinderDistance($0, centre: SIMD3(3.25 + 15, -20.5 + 10, 41), axis: SIMD3(0, 1, 0.3) / SIMD3(0, 1, 0.3).length, radius: 7, half: 12) }),
    ]

    @Test("calf profile round trip of labels on a 0.9 mm grid: bound r = 0, so bit-exact")
    func calfRoundTrip() throws {
        let truth = rasterise(centredGrid("LPS", shape: [72, 72, 48], spacing: SIMD3(0.9, 0.9, 0.9)), Self.calfObjects)
        let (profiled, t) = try toProfile(truth, profile: .calf)
        #expect(roundTripRadius(t) == 0)
        let back = t.toNative(profiled)
        #expect(back.grid == truth.grid)
        #expect(checkBound(back, truth: truth, objects: Self.calfObjects, r: 0, informative: [1, 2]) == 0)
        #expect(back.data == truth.data)
    }

    static let abdomenObjects: [Object] = [
        (1, { sphereDistance($0, centre: SIMD3(3.25 - 18, -20.5 - 15, 41), radius: 20) }),
        (2, { cylinderDistance($0, centre: SIMD3(3.25 + 22, -20.5 + 12, 41), axis: SIMD3(0, 1, 0.3) / SIMD3(0, 1, 0.3).length, radius: 9, half: 14) }),
    ]

    @Test("abdomen profile round trip (coarser in plane and in slices) stays within the derived bound")
    func abdomenRoundTrip() throws {
        let truth = rasterise(centredGrid("LAS", shape: [96, 96, 32], spacing: SIMD3(0.9, 0.9, 2.0)), Self.abdomenObjects)
        let (profiled, t) = try toProfile(truth, profile: .abdomen)
        let r = roundTripRadius(t)
        #expect(abs(r - (0.81 + 0.81 + 4.0).squareRoot()) < 1e-12)
        let back = t.toNative(profiled)
        #expect(back.grid == truth.grid)
        #expect(checkBound(back, truth: truth, objects: Self.abdomenObjects, r: r, informative: [1]) > 0)
    }

    @Test("labels predicted on the profile grid come back within half a profile voxel of the surface")
    func predictionToNative() throws {
        for (profile, source, objects) in [
            (ResampleProfile.calf, centredGrid("LPS", shape: [72, 72, 48], spacing: SIMD3(0.9, 0.9, 0.9)), Self.calfObjects),
            (ResampleProfile.abdomen, centredGrid("LAS", shape: [96, 96, 32], spacing: SIMD3(0.9, 0.9, 2.0)), Self.abdomenObjects),
        ] {
            let t = try ProfileTransform(source: source, profile: profile)
            let predicted = rasterise(t.targetGrid, objects)
            let back = t.toNative(predicted)
            let half = SIMD3(profile.inPlaneSpacing, profile.inPlaneSpacing, profile.sliceSpacing ?? 0) / 2
            #expect(checkBound(back, truth: rasterise(source, objects), objects: objects, r: half.length, informative: [1]) > 0)
        }
    }

    @Test("probabilities on the profile grid come back to every native voxel summing to 1")
    func probabilitiesToNative() throws {
        let source = centredGrid("PSR", shape: [40, 22, 36], spacing: SIMD3(0.9, 3.0, 0.9))
        let t = try ProfileTransform(source: source, profile: .calf)
        let g = t.targetGrid, n = g.voxelCount
        var data = [Float](repeating: 0, count: 3 * n)
        forEachVoxel(g) { i, j, k in
            let w = world(g, i, j, k), o = g.offset(i, j, k)
            let p1 = Float(min(max(0.5 - sphereDistance(w, centre: SIMD3(0, -20, 41), radius: 8) / 3, 0), 1)) * 0.9
            let p2 = Float(min(max(0.5 - sphereDistance(w, centre: SIMD3(8, -20, 41), radius: 5) / 3, 0), 1)) * 0.1
            data[o] = 1 - p1 - p2
            data[n + o] = p1
            data[2 * n + o] = p2
        }
        let back = t.toNative(ChannelVolume(grid: g, channelCount: 3, data: data))
        #expect(back.grid == source)
        let m = source.voxelCount
        let worst = (0..<m).map { o in abs(back.data[o] + back.data[m + o] + back.data[2 * m + o] - 1) }.max()!
        #expect(worst < 1e-5)
        #expect(back.data[m..<(2 * m)].contains { $0 > 0.5 })
    }

    @Test("the record survives JSON and refuses other versions; bad inputs throw typed errors")
    func record() throws {
        let t = try ProfileTransform(source: centredGrid("LPS", shape: [10, 9, 4], spacing: SIMD3(0.9, 0.9, 3)), profile: .abdomen)
        let json = try JSONEncoder().encode(t)
        #expect(try JSONDecoder().decode(ProfileTransform.self, from: json) == t)
        var dict = try #require(JSONSerialization.jsonObject(with: json) as? [String: Any])
        #expect(dict["version"] as? Int == 1)
        dict["version"] = 2
        let v2 = try JSONSerialization.data(withJSONObject: dict)
        #expect(throws: ImagingError.self) { try JSONDecoder().decode(ProfileTransform.self, from: v2) }
        do {
            _ = try JSONDecoder().decode(ProfileTransform.self, from: v2)
        } catch let e as ImagingError {
            #expect(e.code == .unsupportedTransformVersion)
        }
        #expect(throws: ImagingError.self) {
            try ProfileTransform(source: centredGrid("RAS", shape: [2, 2, 2], spacing: SIMD3(1, 1, 1)), profile: ResampleProfile(inPlaneSpacing: 0))
        }
        let singular = Grid(shape: [2, 2, 2], affine: Affine(rows: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]))
        do {
            _ = try ProfileTransform(source: singular, profile: .calf)
            Issue.record("a singular affine must throw")
        } catch {
            #expect(error.code == .badGeometry)
        }
    }
}
