import Foundation
import ImagingCore
import Testing
@testable import Resampling

@Suite("Canonical reorientation")
struct ReorientationTests {
    /// Orientation cases: axis codes, rotation (degrees) about an oblique axis, and the expected
    /// canonical (source axis, flipped) per canonical axis.
    static let cases: [(codes: String, degrees: Double, axes: [Int], flips: [Bool])] = [
        ("RAS", 0, [0, 1, 2], [false, false, false]),
        ("LPS", 0, [0, 1, 2], [true, true, false]),
        ("LAS", 0, [0, 1, 2], [true, false, false]),      // negative determinant
        ("PSR", 0, [2, 0, 1], [false, true, false]),      // negative determinant, permuted
        ("ILA", 0, [1, 2, 0], [true, false, true]),
        ("LPS", 23, [0, 1, 2], [true, true, false]),      // oblique
        ("SAL", -28, [2, 1, 0], [true, false, false]),    // oblique, negative determinant
    ]

    /// The parallel tiled copy against the sequential reference on every axis permutation and
    /// flip, with sides that are not multiples of the 32-voxel tile (tiles cut at the edge).
    @Test("tiled parallel permutation equals the sequential reference")
    func tiledPermutationEqualsTheReference() {
        let source = [37, 70, 3]
        let strides = [1, source[0], source[0] * source[1]]
        let data = (0..<(source[0] * source[1] * source[2])).map { Int32($0) }
        for order in [[0, 1, 2], [1, 0, 2], [2, 0, 1], [0, 2, 1], [1, 2, 0], [2, 1, 0]] {
            for flips in 0..<8 {
                let axes = (0..<3).map { (stride: strides[order[$0]], flip: flips >> $0 & 1 == 1) }
                let shape = order.map { source[$0] }
                let fast = permuted(data, to: shape, axes: axes)
                #expect(fast == referencePermuted(data, to: shape, axes: axes), "order \(order) flips \(flips)")
                #expect(Set(fast).count == data.count)
            }
        }
    }

    /// Resampling the native volume in place through the reorientation's strides gives the
    /// reoriented copy's resampling bit for bit: every axis order and flip (and oblique grids),
    /// sides that are odd or a single voxel, profiles that upsample, downsample, keep the slices
    /// or resample them, and NaN / infinite voxels (copied, never computed differently).
    @Test("resampling through the reorientation equals reorienting first, bit for bit")
    func inPlaceResampleEqualsReorientThenResample() throws {
        let profiles = [ResampleProfile(inPlaneSpacing: 0.7), ResampleProfile(inPlaneSpacing: 2.3, sliceSpacing: 3.1),
                        ResampleProfile(inPlaneSpacing: 1.1, sliceSpacing: 0.9)]
        let shapes = [[17, 9, 5], [1, 12, 7], [11, 1, 3], [6, 8, 1], [2, 2, 2]]
        var checked = 0
        for (n, c) in (Self.cases + [("PIL", 0, [], []), ("AIR", 37, [], [])]).enumerated() {
            for (m, shape) in shapes.enumerated() {
                let grid = makeGrid(c.codes, shape: shape, spacing: SIMD3(0.9, 1.3, 2.1), rotationAxis: SIMD3(1, 2, 0.5), degrees: c.degrees)
                var image = randomImage(grid, seed: UInt64(31 * n + m))
                image.data[image.data.count / 2] = .nan
                image.data[0] = -.infinity
                for profile in profiles {
                    let t = try ProfileTransform(source: grid, profile: profile)
                    let fast = t.toProfile(image, fill: 0.25), reference = t.referenceToProfile(image, fill: 0.25)
                    #expect(fast.grid == reference.grid)
                    #expect(fast.data.map(\.bitPattern) == reference.data.map(\.bitPattern),
                            "\(c.codes) \(c.degrees)° shape \(shape) profile \(profile.inPlaneSpacing)/\(profile.sliceSpacing ?? 0)")
                    checked += 1
                }
            }
        }
        #expect(checked == 9 * 5 * 3)
    }

    @Test("round trip is bit-exact and every voxel keeps its world position", arguments: 0..<cases.count)
    func roundTrip(_ index: Int) throws {
        let c = Self.cases[index]
        let grid = makeGrid(c.codes, shape: [5, 7, 3], spacing: SIMD3(0.8, 1.3, 3.0),
                            rotationAxis: SIMD3(0.4, 1, -0.3), degrees: c.degrees)
        let labels = LabelVolume(grid: grid, data: (0..<grid.voxelCount).map { Int32($0) })
        let (canon, r) = toCanonical(labels)
        #expect(canon.grid.affine.axisCodes == "RAS")
        #expect(r.sourceAxis == c.axes)
        #expect(r.flipped == c.flips)
        #expect(canon.shape == c.axes.map { grid.shape[$0] })
        // Permutation and flips only: each canonical column is exactly ± a source column.
        for a in 0..<3 {
            let col = canon.grid.affine.column(a), src = grid.affine.column(c.axes[a])
            #expect(col == (c.flips[a] ? -src : src))
        }
        if c.degrees != 0 {
            // Oblique grids stay oblique.
            #expect(canon.grid.affine.column(0).y != 0 || canon.grid.affine.column(0).z != 0)
        }
        // Every canonical voxel sits where its source voxel sits, and carries its value.
        let inv = grid.affine.inverse!
        forEachVoxel(canon.grid) { i, j, k in
            let p = inv.apply(world(canon.grid, i, j, k))
            let q = p.rounded(.toNearestOrEven)
            #expect((p - q).length < 1e-9)
            #expect(canon[i, j, k] == labels[Int(q.x), Int(q.y), Int(q.z)])
        }
        let back = r.invert(canon)
        #expect(back.grid == grid)
        #expect(back.data == labels.data)
        // Floats too, bit for bit.
        let image = randomImage(grid, seed: UInt64(index))
        #expect(r.invert(r.apply(image)).data.map(\.bitPattern) == image.data.map(\.bitPattern))
        // The record survives JSON.
        let decoded = try JSONDecoder().decode(Reorientation.self, from: JSONEncoder().encode(r))
        #expect(decoded == r)
    }

    @Test("an already canonical volume is returned unchanged")
    func identity() {
        let grid = makeGrid("RAS", shape: [4, 3, 2], spacing: SIMD3(1, 2, 3))
        let image = randomImage(grid, seed: 9)
        let (canon, r) = toCanonical(image)
        #expect(r.isIdentity)
        #expect(canon.grid == grid)
        #expect(canon.data == image.data)
    }
}
