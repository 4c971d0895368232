import Foundation
import ImagingCore
import Testing
@testable import NIfTIIO

/// Real label maps from TotalSegmentator and MuscleMap (/work/shared/corpus/labels, see its README).
@Suite(.enabled(if: Corpus.available, "needs ../shared/corpus"))
struct CorpusTests {
    /// Per-label voxel counts and mL = voxels × |det(affine)| / 1000.
    static func volumes(_ labels: LabelVolume) -> [Int32: (voxels: Int, ml: Double)] {
        var counts: [Int32: Int] = [:]
        for v in labels.data where v != 0 { counts[v, default: 0] += 1 }
        let voxelML = labels.grid.voxelVolume / 1000
        return counts.mapValues { ($0, Double($0) * voxelML) }
    }

    static func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    }

    /// label_volumes.json: {file: {"voxel_mm3", "labels": {id: {"name", "voxels", "volume_ml"}}}}.
    /// The third file, on dcm2niix's grid of case F01 (0.977 × 0.977 × 2 mm, negative determinant), lives under dicom/.
    @Test(arguments: ["labels/L01_totalseg_ct_mr_abdomen/example_seg.nii.gz", "labels/L01_totalseg_ct_mr_abdomen/example_seg_mr.nii.gz",
                      "dicom/F01_ct_abdomen_20slice_j2k_overlapping/expected/example_seg_dicom.nii.gz"])
    func totalSegmentatorVolumesAndTable(_ relative: String) throws {
        let name = String(relative.split(separator: "/").last!)
        let expected = try Self.json(Corpus.labels("L01_totalseg_ct_mr_abdomen/label_volumes.json"))[name] as! [String: Any]
        let (labels, table) = try NIfTIReader.readLabels(path: Corpus.root + "/" + relative)
        #expect(abs(labels.grid.voxelVolume - (expected["voxel_mm3"] as! Double)) < 1e-6)
        let got = Self.volumes(labels)
        let want = expected["labels"] as! [String: [String: Any]]
        #expect(got.count == want.count)
        for (id, entry) in want {
            let key = Int32(id)!
            #expect(got[key]?.voxels == entry["voxels"] as? Int, "label \(id)")
            #expect(abs((got[key]?.ml ?? -1) - (entry["volume_ml"] as! Double)) < 0.0005, "label \(id)")
            // The names come from the file's own CaretExtension label table.
            #expect(table?.entry(for: key)?.name == entry["name"] as? String, "label \(id)")
        }
        // TotalSegmentator's palette: colors[1 % 12] = green for spleen.
        #expect(table?.entry(for: 1)?.color == [0, 255, 0])
    }

    @Test func ctAffineMatchesNibabel() throws {
        // nibabel 5.4.2: nib.load("example_seg.nii.gz").affine (sform_code 2), printed with 10 decimals.
        let nibabel = Affine(rows: [[3, 0, 0, -177.9563293457], [0, 3, 0, 11.3190002441], [0, 0, 3, 94.3017578125]])
        let scan = try NIfTIReader.readImage(path: Corpus.labels("L01_totalseg_ct_mr_abdomen/example_ct_sm.nii.gz"))
        #expect(scan.image.shape == [122, 101, 30])
        #expect(scan.image.grid.affine.maxDifference(to: nibabel) < 1e-6)
        let seg = try NIfTIReader.readHeader(path: Corpus.labels("L01_totalseg_ct_mr_abdomen/example_seg.nii.gz"))
        #expect(seg.affine.maxDifference(to: nibabel) < 1e-6 && seg.affineSource == "sform")
    }

    /// L02: the image has only a qform, the label map only an sform; they must agree.
    @Test func musclemapQformAndSformAgree() throws {
        let imagePath = Corpus.labels("L02_musclemap_lumbar_mr/image.nii.gz")
        let labelPath = Corpus.labels("L02_musclemap_lumbar_mr/image_dseg.nii.gz")
        let image = try NIfTIReader.readImage(path: imagePath)
        let imageHeader = try NIfTIReader.readHeader(path: imagePath)
        let (labels, table) = try NIfTIReader.readLabels(path: labelPath)
        #expect(imageHeader.affineSource == "qform")
        #expect(try NIfTIReader.readHeader(path: labelPath).affineSource == "sform")
        #expect(image.image.shape == [256, 208, 20] && labels.shape == [256, 208, 20])
        #expect(image.image.grid.affine.maxDifference(to: labels.grid.affine) < 1e-4)
        #expect(table == nil)
        // nibabel 5.4.2, nib.load(...).affine printed with 10 decimals: the qform of image.nii.gz...
        let nibabelQform = Affine(rows: [[-0.9374856709, -0.0004298076, -0.0242433333, 114.1050033569],
                                         [-0.0004298076, -0.9246077739, 0.7271870722, 35.0177993774],
                                         [-0.0051654823, 0.1549404072, 4.3394257982, -59.5421981812]])
        // ...and the sform of image_dseg.nii.gz.
        let nibabelSform = Affine(rows: [[-0.9374856949, -0.0004298076, -0.0242433324, 114.1050033569],
                                         [-0.0004298076, -0.9246077538, 0.7271870375, 35.0177955627],
                                         [-0.0051654819, 0.1549403965, 4.3394260406, -59.5421981812]])
        #expect(image.image.grid.affine.maxDifference(to: nibabelQform) < 1e-6, "\(image.image.grid.affine)")
        #expect(labels.grid.affine.maxDifference(to: nibabelSform) < 1e-6)
        // nibabel: np.unique(dataobj) of the uint16 image has 1060 values, 65965 zeros.
        #expect(image.image.data.filter { $0 == 0 }.count == 65965)

        // volumes.json: {"voxel_mm3", "labels": {id: {"name", "voxels", "volume_ml"}}}.
        let expected = try Self.json(Corpus.labels("L02_musclemap_lumbar_mr/volumes.json"))
        #expect(abs(labels.grid.voxelVolume - (expected["voxel_mm3"] as! Double)) < 1e-5)
        let got = Self.volumes(labels)
        let want = expected["labels"] as! [String: [String: Any]]
        #expect(got.count == 8 && want.count == 8)
        for (id, entry) in want {
            #expect(got[Int32(id)!]?.voxels == entry["voxels"] as? Int, "label \(id)")
            #expect(abs((got[Int32(id)!]?.ml ?? -1) - (entry["volume_ml"] as! Double)) < 0.0005, "label \(id)")
        }
    }

    /// L03: int16 four-digit MuscleMap ids; volumes.json is {id: {"name", "volume_ml"}} to 0.01 mL.
    @Test func musclemapLowerBodyVolumes() throws {
        let (labels, _) = try NIfTIReader.readLabels(path: Corpus.labels("L03_musclemap_lowerbody_labels_only/test_dseg.nii.gz"))
        #expect(labels.shape == [320, 208, 352])
        // nibabel 5.4.2: affine diag(1.5) with origin (-257.8511657715, -139.25, -577.2727050781).
        let nibabel = Affine.scaling(SIMD3(1.5, 1.5, 1.5), origin: SIMD3(-257.8511657715, -139.25, -577.2727050781))
        #expect(labels.grid.affine.maxDifference(to: nibabel) < 1e-6)
        let got = Self.volumes(labels)
        let want = try Self.json(Corpus.labels("L03_musclemap_lowerbody_labels_only/volumes.json")) as! [String: [String: Any]]
        #expect(got.count == want.count && got.count == 57)
        #expect(got[5121]?.voxels == 3114)  // nibabel: np.unique(..., return_counts=True)
        for (id, entry) in want {
            let ml = got[Int32(id)!]?.ml ?? -1
            #expect(abs(ml - (entry["volume_ml"] as! Double)) <= 0.005 + 1e-9, "label \(id): \(ml)")
        }
    }

    /// Writing a real label map back out (with its table) and reading it gives the same voxels,
    /// geometry and names.
    @Test func realLabelMapRoundTrip() throws {
        let dir = TempDir()
        let (labels, table) = try NIfTIReader.readLabels(path: Corpus.labels("L01_totalseg_ct_mr_abdomen/example_seg.nii.gz"))
        let out = dir.file("seg.nii.gz")
        try NIfTIWriter.writeLabels(labels, table: table, to: out)
        let (back, backTable) = try NIfTIReader.readLabels(path: out)
        #expect(back.data == labels.data)
        #expect(back.grid.affine.maxDifference(to: labels.grid.affine) < 1e-4)
        #expect(backTable == table)
    }
}
