import Anatomy
import DICOMIO
import Foundation
import ImagingCore
import NIfTIIO
import Testing
@testable import Phantoms

@Suite struct PhantomTests {
    /// |voxel count volume - exact volume| stays within the partial-volume bound for every
    /// class (bilateral, oblique, coarse grid). On a finer grid the bound is informative (under
    /// half of the muscle and organ volume), and the observed error of every muscle and organ
    /// over 5 mL is under a fifth of its bound: the errors of a boundary cancel.
    @Test(arguments: [Region.thigh, .calf, .abdomen])
    func exactVolumesAgreeWithVoxelCounts(region: Region) throws {
        let p = try smallPhantom(region, bilateral: region != .abdomen, matrix: [80, 80], slices: 10, oblique: true)
        for c in p.truth.classes {
            #expect(abs(c.voxelML - c.exactML) <= c.partialVolumeBoundML, "\(c.name): voxel \(c.voxelML) exact \(c.exactML) bound \(c.partialVolumeBoundML)")
            let voxels = p.labels.data.reduce(0) { $0 + ($1 == Int32(c.id) ? 1 : 0) }
            #expect(voxels == c.voxelCount)
        }
        let fine = try smallPhantom(region, seed: 8, matrix: [192, 192], slices: 5, oblique: true)
        var bound = 0.0, volume = 0.0
        for c in fine.truth.classes {
            #expect(abs(c.voxelML - c.exactML) <= c.partialVolumeBoundML, "\(c.name): voxel \(c.voxelML) exact \(c.exactML) bound \(c.partialVolumeBoundML)")
            guard [.muscle, .organ].contains(catalog.class(id: c.id)!.group) else { continue }
            bound += c.partialVolumeBoundML
            volume += c.exactML
            if c.exactML > 5 { #expect(abs(c.voxelML - c.exactML) <= 0.2 * c.partialVolumeBoundML, "\(c.name)") }
        }
        #expect(volume > 0 && bound < volume / 2, "bound \(bound) mL against \(volume) mL")
        #expect(abs(p.truth.voxelVolumeMM3 - p.labels.grid.voxelVolume) < 1e-9)
    }

    /// The exact volumes converge: the default 2048 rays agree with 8192 rays to 2e-3 of
    /// each volume over 1 mL (docs/phantoms.md).
    @Test func exactVolumesConverge() throws {
        for region in [Region.thigh, .calf, .abdomen] {
            let coarse = try smallPhantom(region, matrix: [32, 32], slices: 1, rays: 2048)
            let fine = try smallPhantom(region, matrix: [32, 32], slices: 1, rays: 8192)
            var worst = 0.0
            for (a, b) in zip(coarse.truth.classes, fine.truth.classes) where b.exactML > 1 {
                worst = max(worst, abs(a.exactML - b.exactML) / b.exactML)
                #expect(abs(a.exactML - b.exactML) <= 2e-3 * b.exactML, "\(region) \(a.name): \(a.exactML) vs \(b.exactML)")
            }
            print("exact volume convergence \(region): worst relative difference 2048 vs 8192 rays \(worst)")
        }
    }

    @Test(arguments: [Region.thigh, .calf, .abdomen])
    func everyCatalogClassAppearsInTheFullDataset(region: Region) throws {
        let p = try smallPhantom(region, seed: 11, matrix: [112, 112])
        let (labels, sidecar) = PhantomDataset.full(region).apply(to: p.labels, catalog: catalog, subject: "s", visit: 1)
        let seen = Set(labels.data)
        for c in catalog.classes(in: region) {
            #expect(seen.contains(Int32(c.id)), "\(c.name) missing from a \(region) phantom")
            #expect(sidecar.present.contains(c.name))
        }
        #expect(seen.isSubset(of: Set([0] + catalog.classes(in: region).map { Int32($0.id) })))
    }

    @Test func sameSeedSameBytesOtherSeedOtherScan() throws {
        let a = try smallPhantom(.calf, seed: 5, visit: 2, slices: 6), b = try smallPhantom(.calf, seed: 5, visit: 2, slices: 6)
        #expect(a.image.data == b.image.data && a.labels.data == b.labels.data && a.truth == b.truth)
        #expect(a.image.grid == b.image.grid && a.metadata == b.metadata)
        let dir = temporaryFolder("determinism")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try NIfTIWriter.writeImage(a.image, to: dir + "/a.nii.gz")
        try NIfTIWriter.writeImage(b.image, to: dir + "/b.nii.gz")
        #expect(FileManager.default.contents(atPath: dir + "/a.nii.gz") == FileManager.default.contents(atPath: dir + "/b.nii.gz"))
        let other = try smallPhantom(.calf, seed: 6, visit: 2, slices: 6)
        #expect(other.image.data != a.image.data)
        // Another visit of the same subject: same anatomy parameters, new acquisition.
        let visit3 = try smallPhantom(.calf, seed: 5, visit: 3, slices: 6)
        #expect(visit3.truth.parameters.segmentLengthMM == a.truth.parameters.segmentLengthMM)
        #expect(visit3.truth.subject == a.truth.subject && visit3.image.data != a.image.data)
    }

    /// Sides by the affine: in a right limb the vastus lateralis lies at larger RAS x than the
    /// femur, in a left limb at smaller x; the liver and right kidney lie at larger x than the
    /// spleen and left kidney.
    @Test func sidesFollowTheAffine() throws {
        let p = try smallPhantom(.thigh, seed: 3, bilateral: true, matrix: [128, 72], slices: 8, oblique: true)
        let marrow = Int32(catalog.class(named: "bone_marrow")!.id), vl = Int32(catalog.class(named: "vastus_lateralis")!.id)
        let mid = try #require(centroid(p.labels) { l, _ in l == marrow }).x
        let rightFemur = try #require(centroid(p.labels) { l, x in l == marrow && x.x > mid })
        let leftFemur = try #require(centroid(p.labels) { l, x in l == marrow && x.x < mid })
        let rightVL = try #require(centroid(p.labels) { l, x in l == vl && x.x > mid })
        let leftVL = try #require(centroid(p.labels) { l, x in l == vl && x.x < mid })
        #expect(rightVL.x > rightFemur.x + 10)
        #expect(leftVL.x < leftFemur.x - 10)
        #expect(p.truth.parameters.sides == [.left, .right])
        // Per-side exact volumes match per-side voxel counts.
        let v = p.labels.grid.voxelVolume / 1000
        var count = 0
        for k in 0..<p.labels.shape[2] {
            for j in 0..<p.labels.shape[1] {
                for i in 0..<p.labels.shape[0] where p.labels[i, j, k] == vl {
                    if p.labels.grid.affine.apply(SIMD3(Double(i), Double(j), Double(k))).x > mid { count += 1 }
                }
            }
        }
        let truth = try #require(p.truth.class("vastus_lateralis"))
        let right = try #require(truth.exactMLBySide?["right"])
        #expect(abs(Double(count) * v - right) <= truth.partialVolumeBoundML)

        let a = try smallPhantom(.abdomen, seed: 4, oblique: true)
        func x(_ name: String) throws -> Double {
            let id = Int32(catalog.class(named: name)!.id)
            return try #require(centroid(a.labels) { l, _ in l == id }).x
        }
        #expect(try x("liver") > x("spleen") + 50)
        #expect(try x("kidney_right") > x("kidney_left") + 50)
    }

    @Test func partialDatasetsHaveTheRightPresenceAndMapping() throws {
        let calf = try smallPhantom(.calf, seed: 9, slices: 8)
        let muscles = Set(catalog.classes(in: .calf).filter { $0.group == .muscle }.map(\.name))
        let (ml, ms) = PhantomDataset.named("calf-muscle")!.apply(to: calf.labels, catalog: catalog, subject: "s", visit: 1)
        try ms.validate(against: catalog)
        #expect(Set(ms.present) == muscles)
        #expect(Set(ml.data).isSubset(of: Set([0] + muscles.map { Int32(catalog.class(named: $0)!.id) })))
        let soleus = Int32(catalog.class(named: "soleus")!.id)
        #expect(ml.data.filter { $0 == soleus }.count == calf.labels.data.filter { $0 == soleus }.count)

        let (tl, ts) = PhantomDataset.named("calf-tissue")!.apply(to: calf.labels, catalog: catalog, subject: "s", visit: 1)
        try ts.validate(against: catalog)
        let imaf = catalog.class(named: "imaf")!
        #expect(!ts.present.contains("imaf") && ts.labels[imaf.id] == .single("imaf"))
        #expect(!ts.presence(in: catalog)[imaf.id] && ts.presence(in: catalog)[catalog.class(named: "bone")!.id])
        // Every muscle voxel became IMAF; bone stayed bone.
        for (full, partial) in zip(calf.labels.data, tl.data) {
            if full == soleus { #expect(partial == Int32(imaf.id)) }
            if full == 0 { #expect(partial == 0) }
        }

        let thigh = try smallPhantom(.thigh, seed: 9, slices: 8)
        let (sl, ss) = PhantomDataset.named("thigh-adductors-imaf")!.apply(to: thigh.labels, catalog: catalog, subject: "s", visit: 1)
        try ss.validate(against: catalog)
        #expect(ss.labels[200] == .superLabel(["adductor_magnus", "adductor_longus", "adductor_brevis", "imaf"]))
        #expect(ss.labels[1] == nil && sl.data.contains(200) && !sl.data.contains(1) && !sl.data.contains(41))
        let merged = thigh.labels.data.filter { [1, 2, 3, 41].contains($0) }.count
        #expect(sl.data.filter { $0 == 200 }.count == merged)

        let abdomen = try smallPhantom(.abdomen, seed: 9, slices: 8)
        for (name, organ) in [("abdomen-liver", "liver"), ("abdomen-spleen", "spleen"), ("abdomen-pancreas", "pancreas")] {
            let (l, s) = PhantomDataset.named(name)!.apply(to: abdomen.labels, catalog: catalog, subject: "s", visit: nil)
            let id = Int32(catalog.class(named: organ)!.id)
            #expect(Set(l.data).isSubset(of: [0, id]) && s.present == [organ] && s.dataset == name)
            #expect(l.data.filter { $0 == id }.count == abdomen.labels.data.filter { $0 == id }.count)
        }
    }

    /// The DICOM series written through DCMTK reads back through DICOMIO with the same geometry
    /// and pixels (an oblique MR thigh, and a CT abdomen with a compressed transfer syntax).
    @Test(arguments: [(Region.thigh, DICOMTransferSyntax.explicitLittleEndian), (.abdomen, .jpegLS), (.calf, .rle)])
    func dicomRoundTrip(region: Region, syntax: DICOMTransferSyntax) throws {
        let p = try smallPhantom(region, seed: 21, matrix: [64, 48], slices: 6, oblique: true)
        let dir = temporaryFolder("phantom-dicom")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = DICOMSeriesWriter.Options()
        options.transferSyntax = syntax
        if region == .abdomen { options.rescaleIntercept = -1024 }
        try DICOMSeriesWriter.write(p.image, metadata: p.metadata, to: dir, options: options)
        let scan = try DICOMReader.read(paths: [dir]).series[0].result.get()
        #expect(scan.image.shape == p.image.shape)
        #expect(scan.metadata.modality == (region == .abdomen ? "CT" : "MR"))
        if scan.image.grid.affine.maxDifference(to: p.image.grid.affine) < 1e-3 {
            #expect(scan.image.data == p.image.data)
        } else {
            // The reader orders slices along the normal: the same geometry with k reversed.
            let n = p.image.shape[2], plane = p.image.shape[0] * p.image.shape[1]
            let a = p.image.grid.affine
            let flipped = Affine(columns: a.column(0), a.column(1), -a.column(2), origin: a.apply(SIMD3(0, 0, Double(n - 1))))
            #expect(scan.image.grid.affine.maxDifference(to: flipped) < 1e-3)
            let reversed = (0..<n).flatMap { k in p.image.data[(n - 1 - k) * plane..<(n - k) * plane] }
            #expect(scan.image.data == reversed)
        }
    }
}
