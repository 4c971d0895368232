import Foundation
import ImagingCore
import Testing
@testable import DICOMIO

/// Conformance against dcm2niix over the shared real-file corpus (README: same matrix and axis
/// order after canonical reorientation, affine within 1e-3 mm and 1e-4 in direction).
@Suite(.enabled(if: Corpus.available, "shared corpus absent"))
struct CorpusTests {
    static let volumeCases = [
        "F01_ct_abdomen_20slice_j2k_overlapping", "F02_mr_sag_4slice_j2k", "F02_mr_sag_4slice_jpeg",
        "F02_mr_sag_4slice_jpegls", "F02_mr_sag_4slice_rle", "F03_mr_philips_cor_oblique_4slice",
        "F04_mr_ge_sag_oblique_4slice", "F05_mr_siemens_enhanced_8frame", "F06_mr_nonsquare_pixels_rescale",
    ]

    /// Reads a case and returns its single converted scan.
    func scan(_ name: String) throws -> Scan {
        let result = try DICOMReader.read(paths: [Corpus.dicom(name)])
        #expect(result.series.count == 1, "\(name): \(result.series.map(\.key))")
        return try #require(result.series.first).result.get()
    }

    func canonical(_ scan: Scan) -> Canonical {
        Canonical(shape: scan.image.shape, affine: scan.image.grid.affine, data: scan.image.data.map(Double.init))
    }

    @Test(arguments: volumeCases)
    func geometryMatchesDcm2niix(_ name: String) throws {
        let ours = canonical(try scan(name))
        let refPath = try #require(Corpus.references(name).first)
        let ref = try TestNIfTI(path: refPath)
        let theirs = Canonical(shape: ref.shape, affine: ref.affine, data: ref.data)
        #expect(ours.shape == theirs.shape, "\(name) shape")
        for c in 0..<3 {
            let a = ours.affine.column(c), b = theirs.affine.column(c)
            let dirDiff = (a / a.length - b / b.length).length
            #expect(dirDiff < 1e-4, "\(name) direction \(c): \(a) vs \(b)")
            #expect(abs(a.length - b.length) < 1e-3, "\(name) spacing \(c): \(a.length) vs \(b.length)")
        }
        #expect((ours.affine.origin - theirs.affine.origin).length < 1e-3,
                "\(name) origin \(ours.affine.origin) vs \(theirs.affine.origin)")
    }

    @Test(arguments: volumeCases)
    func voxelsMatchDcm2niix(_ name: String) throws {
        let ours = canonical(try scan(name))
        let ref = try TestNIfTI(path: try #require(Corpus.references(name).first))
        let theirs = Canonical(shape: ref.shape, affine: ref.affine, data: ref.data)
        try #require(ours.shape == theirs.shape)
        var worst = 0.0
        for (a, b) in zip(ours.data, theirs.data) { worst = max(worst, abs(a - b) / max(1, abs(b))) }
        // Integer data must be exact; rescaled float data (F06) agrees to float32 rounding.
        #expect(worst < 1e-5, "\(name): worst relative voxel difference \(worst)")
    }

    @Test func fourCompressionsDecodeIdentically() throws {
        let names = ["F02_mr_sag_4slice_j2k", "F02_mr_sag_4slice_jpeg", "F02_mr_sag_4slice_jpegls", "F02_mr_sag_4slice_rle"]
        let scans = try names.map { try scan($0) }
        for s in scans.dropFirst() {
            #expect(s.image.data == scans[0].image.data)
            #expect(s.image.grid == scans[0].image.grid)
        }
        #expect(Set(scans[0].image.data).count > 100, "decoded image is not trivially constant")
    }

    @Test func spacingComesFromPositionsNotThickness() throws {
        let s = try scan("F01_ct_abdomen_20slice_j2k_overlapping")
        #expect(abs(s.image.grid.spacing.z - 2) < 1e-6)
        #expect(s.warnings.contains { $0.contains("SliceThickness") })
        #expect(s.image.data.min()! < -900, "CT rescale intercept applied (air is about -1000 HU)")
    }

    /// F01's organ label map (dicom2nifti's test data) lies on dcm2niix's grid: it must lie on ours.
    @Test func labelMapGridMatches() throws {
        let name = "F01_ct_abdomen_20slice_j2k_overlapping"
        let seg = try TestNIfTI(path: Corpus.dicom(name) + "/expected/example_seg_dicom.nii.gz", headerOnly: true)
        let theirs = Canonical(shape: seg.shape, affine: seg.affine, data: [Double](repeating: 0, count: seg.shape.reduce(1, *)))
        let ours = canonical(try scan(name))
        #expect(ours.shape == theirs.shape)
        #expect(ours.affine.maxDifference(to: theirs.affine) < 1e-3, "\(ours.affine) vs \(theirs.affine)")
    }

    @Test func gantryTiltIsRefused() throws {
        let result = try DICOMReader.read(paths: [Corpus.dicom("F07_ct_gantry_tilt")])
        let error = try expectFailure(result)
        #expect(error.code == .gantryTilt)
        // dcm2niix estimates 14 degrees from the slice vector.
        #expect(error.reason.contains("14."), "\(error.reason)")
    }

    @Test func imagesAtOnePositionAreNotAVolume() throws {
        let error = try expectFailure(try DICOMReader.read(paths: [Corpus.dicom("F08_ct_not_a_volume")]))
        #expect(error.code == .notAVolume)
    }

    @Test func inconsistentIncrementIsRefused() throws {
        let error = try expectFailure(try DICOMReader.read(paths: [Corpus.dicom("F09_ct_inconsistent_slice_increment")]))
        #expect(error.code == .nonuniformSpacing)
    }

    @Test func twoOrientationsGiveTwoScans() throws {
        let name = "F10_mr_two_orientations_one_folder"
        let result = try DICOMReader.read(paths: [Corpus.dicom(name)])
        #expect(result.series.count == 2)
        let scans = result.scans
        try #require(scans.count == 2)
        let refs = try Corpus.references(name).map { try TestNIfTI(path: $0) }
        for ref in refs {
            let theirs = Canonical(shape: ref.shape, affine: ref.affine, data: ref.data)
            let match = scans.map(canonical).contains { ours in
                ours.shape == theirs.shape && ours.affine.maxDifference(to: theirs.affine) < 1e-3 && ours.data == theirs.data
            }
            #expect(match, "no scan matches reference \(ref.shape)")
        }
    }

    /// The whole corpus in one call: every case keeps its own outcome, and the F02 copies (the
    /// same instances in four encodings) are read once.
    @Test func wholeCorpusInOneRead() throws {
        let result = try DICOMReader.read(paths: [Corpus.root.appendingPathComponent("dicom").path])
        let duplicates = result.skipped.filter { $0.code == .duplicateInstance }
        #expect(duplicates.count == 12)
        #expect(result.skipped.allSatisfy { [.duplicateInstance, .notDICOM].contains($0.code) })
        var codes: [String] = []
        for outcome in result.series {
            switch outcome.result {
            case .success: codes.append("ok")
            case .failure(let e): codes.append(e.code.rawValue)
            }
        }
        // F01, F02, F03, F04, F05, F06 and F10 (two planes) convert; F07, F08, F09 are refused.
        #expect(codes.filter { $0 == "ok" }.count == 8, "\(zip(result.series.map(\.key), codes).map { "\($0): \($1)" })")
        #expect(codes.filter { $0 != "ok" }.sorted() == ["gantry_tilt", "nonuniform_spacing", "not_a_volume"])
    }

    @Test func metadataIsKept() throws {
        let s = try scan("F05_mr_siemens_enhanced_8frame")
        #expect(s.metadata.modality == "MR")
        #expect(s.metadata.sourceFormat == "dicom")
        #expect(s.metadata.seriesNumber == 5)
    }

    func expectFailure(_ result: DICOMReadResult) throws -> ImagingError {
        #expect(result.series.count == 1)
        let outcome = try #require(result.series.first)
        switch outcome.result {
        case .success: Issue.record("expected a refusal for \(outcome.key)"); throw CancellationError()
        case .failure(let e): return e
        }
    }
}
