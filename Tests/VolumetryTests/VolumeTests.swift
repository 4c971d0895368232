import Anatomy
import Foundation
import ImagingCore
import Phantoms
import Testing
@testable import Volumetry

let volCatalog: LabelCatalog = try! LabelCatalog.load(path: ConfigDirectory.sourceTreeDirectory + "/" + LabelCatalog.fileName)

func volPhantom(_ region: Region, seed: UInt64, bilateral: Bool = false, matrix: [Int] = [64, 64], slices: Int = 6,
                oblique: Bool? = nil) throws -> Phantom {
    try PhantomGenerator.generate(
        PhantomRequest(region: region, seed: seed, bilateral: bilateral, matrix: matrix, slices: slices, oblique: oblique, rays: 256),
        catalog: volCatalog)
}

@Suite struct VolumeTests {
    static func id(_ name: String) -> Int32 { Int32(volCatalog.class(named: name)!.id) }

    /// LAS grid (i runs toward patient LEFT: image columns disagree with RAS x), 2 × 2 × 5 mm.
    static func lasGrid(_ nx: Int = 40, _ ny: Int = 10, _ nz: Int = 6) -> Grid {
        Grid(shape: [nx, ny, nz], affine: Affine(columns: SIMD3(-2, 0, 0), SIMD3(0, 2, 0), SIMD3(0, 0, 5), origin: SIMD3(39, -10, 0)))
    }

    @Test func volumesCountVoxelsTimesTheDeterminant() {
        var v = LabelVolume(grid: Self.lasGrid(), repeating: 0)
        let liver = Self.id("liver"), kidneyL = Self.id("kidney_left")
        for k in 1..<4 { for j in 0..<5 { for i in 0..<10 { v[i, j, k] = liver } } }  // 150 voxels in slices 1...3
        v[20, 0, 5] = kidneyL  // one voxel in the last slice
        let r = VolumeMeasurer.measure(v, catalog: volCatalog, region: .abdomen)
        let row = r.row("liver", side: .unsplit)!
        #expect(row.voxels == 150 && abs(row.volumeML - 150 * 0.02) < 1e-12 && row.slices == 3)
        #expect(!row.truncated && !row.touchesFirstSlice && !row.touchesLastSlice)
        // The kidney has its own per-side class: side from its name; it touches the last slice.
        let kidney = r.row("kidney_left", side: .left)!
        #expect(kidney.voxels == 1 && kidney.truncated && kidney.touchesLastSlice && !kidney.touchesFirstSlice && kidney.volumeML > 0)
        // Every abdomen class has a row, absent ones with 0 voxels.
        #expect(r.row("spleen", side: .unsplit)?.voxels == 0)
        #expect(r.rows.allSatisfy { volCatalog.class(id: $0.id)!.regions.contains(.abdomen) })
        #expect(r.voxelVolumeMM3 == 20 && r.sliceCount == 6)
    }

    @Test func bilateralSplitUsesRASxNotImageColumns() {
        // LAS: column i is at x = 39 - 2i. Limb A at i 2..<8 (x 35...25: patient right), limb B at
        // i 22..<36 (x -5...-31: patient left), larger.
        var v = LabelVolume(grid: Self.lasGrid(), repeating: 0)
        let vl = Self.id("vastus_lateralis"), fat = Self.id("subcutaneous_fat")
        for k in 0..<6 { for j in 0..<10 {
            for i in 2..<8 { v[i, j, k] = j < 5 ? vl : fat }
            for i in 22..<36 { v[i, j, k] = j < 5 ? vl : fat }
        } }
        let r = VolumeMeasurer.measure(v, catalog: volCatalog, region: .thigh)
        #expect(r.sides.kind == .bilateral)
        let mid = r.sides.midlineX!
        #expect(mid < 25 && mid > -5)  // in the gap between the limbs
        #expect(r.row("vastus_lateralis", side: .right)?.voxels == 6 * 5 * 6)
        #expect(r.row("vastus_lateralis", side: .left)?.voxels == 14 * 5 * 6)
        #expect(r.row("vastus_lateralis", side: .unsplit) == nil)
        #expect(r.row("vastus_lateralis", side: .right)!.truncated)  // touches slices 0 and 5
    }

    @Test func bilateralPhantomSidesMatchTheExactVolumes() throws {
        let p = try volPhantom(.thigh, seed: 3, bilateral: true, matrix: [128, 72], slices: 6, oblique: true)
        let r = VolumeMeasurer.measure(p.labels, catalog: volCatalog, region: .thigh)
        #expect(r.sides.kind == .bilateral)
        var checked = 0
        for c in p.truth.classes where c.voxelCount > 0 {
            let left = r.row(c.name, side: .left)!, right = r.row(c.name, side: .right)!
            #expect(left.voxels + right.voxels == c.voxelCount)
            for (side, row) in [("left", left), ("right", right)] {
                let exact = c.exactMLBySide![side]!
                #expect(abs(row.volumeML - exact) <= c.partialVolumeBoundML, "\(c.name) \(side): \(row.volumeML) vs \(exact)")
            }
            checked += 1
        }
        #expect(checked >= 10)
        // The right limb (larger RAS x) holds the right rows: compare centroids directly.
        let vl = Self.id("vastus_lateralis")
        var sumR = 0.0, nR = 0.0, sumL = 0.0, nL = 0.0
        let s = p.labels.shape
        for k in 0..<s[2] { for j in 0..<s[1] { for i in 0..<s[0] where p.labels[i, j, k] == vl {
            let x = p.labels.grid.affine.apply(SIMD3(Double(i), Double(j), Double(k))).x
            if x > r.sides.midlineX! { sumR += x; nR += 1 } else { sumL += x; nL += 1 }
        } } }
        #expect(Int(nR) == r.row("vastus_lateralis", side: .right)!.voxels && sumR / nR > sumL / nL)
    }

    @Test(arguments: [(Region.thigh, UInt64(1)), (.thigh, 2), (.thigh, 5), (.calf, 1), (.calf, 4), (.calf, 6)])
    func singleLimbSideComesFromItsAnatomy(region: Region, seed: UInt64) throws {
        let p = try volPhantom(region, seed: seed, slices: 4)
        let r = VolumeMeasurer.measure(p.labels, catalog: volCatalog, region: region)
        #expect(r.sides.kind == .single)
        let expected = BodySide(rawValue: p.truth.parameters.sides[0].rawValue)
        #expect(r.sides.singleSide == expected, "\(r.sides.method)")
        #expect(r.rows.allSatisfy { $0.side == expected })
        // The whole class, not split.
        let c = p.truth.classes.first { $0.voxelCount > 0 }!
        #expect(r.row(c.name, side: expected!)?.voxels == c.voxelCount)
    }

    @Test func undeterminableSingleLimbIsUnsplit() {
        var v = LabelVolume(grid: Self.lasGrid(), repeating: 0)
        for k in 0..<6 { for j in 0..<10 { for i in 10..<20 { v[i, j, k] = Self.id("adductor_magnus") } } }
        let r = VolumeMeasurer.measure(v, catalog: volCatalog, region: .thigh)
        #expect(r.sides.kind == .single && r.sides.singleSide == .unsplit)
        #expect(r.row("adductor_magnus", side: .unsplit)?.voxels == 600)
    }

    @Test func abdomenSplitsPsoasAtTheSpine() {
        var v = LabelVolume(grid: Self.lasGrid(), repeating: 0)
        let bone = Self.id("bone"), psoas = Self.id("psoas"), liver = Self.id("liver")
        for k in 0..<6 {
            for j in 0..<4 { for i in 18..<22 { v[i, j, k] = bone } }       // spine centred at i = 19.5 (x = 0)
            for j in 0..<4 { for i in 12..<16 { v[i, j, k] = psoas } }      // x 15...9: right
            for j in 0..<4 { for i in 24..<27 { v[i, j, k] = psoas } }      // x -9...-13: left, smaller
            for j in 5..<10 { for i in 2..<12 { v[i, j, k] = liver } }
        }
        let r = VolumeMeasurer.measure(v, catalog: volCatalog, region: .abdomen)
        #expect(r.sides.kind == .trunk && abs(r.sides.midlineX!) < 1e-9)
        #expect(r.row("psoas", side: .right)?.voxels == 96 && r.row("psoas", side: .left)?.voxels == 72)
        #expect(r.row("liver", side: .unsplit)?.voxels == 300 && r.row("liver", side: .right) == nil)
    }

    @Test func truncationFlagsThePhantomsCutMuscles() throws {
        let p = try volPhantom(.calf, seed: 3, slices: 5)
        let r = VolumeMeasurer.measure(p.labels, catalog: volCatalog, region: .calf)
        for row in r.rows where row.voxels > 0 {
            let id = Int32(row.id), n = p.labels.shape
            var first = false, last = false
            for j in 0..<n[1] { for i in 0..<n[0] {
                if p.labels[i, j, 0] == id { first = true }
                if p.labels[i, j, n[2] - 1] == id { last = true }
            } }
            #expect(row.touchesFirstSlice == first && row.touchesLastSlice == last && row.volumeML > 0)
        }
        #expect(r.rows.contains { $0.truncated })
    }
}
