import Foundation
import ImagingCore
import Testing
@testable import NIfTIIO

/// The sform > qform > pixdim choice of nifti1.h, with affines worked out by hand.
@Suite struct GeometryTests {
    let dir = TempDir()
    let zeros = [UInt8](repeating: 0, count: 96)

    /// qform: quaternion (b, c, d) = (0, 0, sin 45°) is a +90° rotation about z, so
    /// R = [[0,-1,0],[1,0,0],[0,0,1]]; pixdim (2, 3, 4) scales the columns and qfac = -1
    /// (pixdim[0]) flips the third: columns (0,2,0), (-3,0,0), (0,0,-4), origin (10,20,30).
    static let qformAffine = Affine(rows: [[0, -3, 0, 10], [2, 0, 0, 20], [0, 0, -4, 30]])

    func qformHeader(version: Int = 1) -> TestNIfTI {
        var h = TestNIfTI()
        h.version = version
        h.qformCode = 1
        h.pixdim = [-1, 2, 3, 4, 1, 1, 1, 1]
        h.quatern = [0, 0, 0.5.squareRoot(), 10, 20, 30]
        return h
    }

    @Test func qformOnly() throws {
        for version in [1, 2] {
            let path = try qformHeader(version: version).write(dir.file("q\(version).nii"), data: zeros)
            let summary = try NIfTIReader.readHeader(path: path)
            #expect(summary.affineSource == "qform")
            #expect(summary.affine.maxDifference(to: Self.qformAffine) < 1e-5, "\(summary.affine)")
            #expect(summary.affine.determinant < 0)
            #expect(try NIfTIReader.readImage(path: path).image.grid.affine == summary.affine)
        }
    }

    @Test func sformOnlyKeptAsGivenEvenWhenSheared() throws {
        var h = TestNIfTI()
        h.sformCode = 2
        h.pixdim = [1, 9, 9, 9, 1, 1, 1, 1]  // must be ignored: the sform carries the spacing
        let sheared: [[Double]] = [[0.75, 0.5, 0, -100.25], [0, 1.5, 0.25, 50.5], [0.125, 0, -2.5, 12]]
        h.srow = sheared
        let path = try h.write(dir.file("s.nii.gz"), data: zeros)
        let summary = try NIfTIReader.readHeader(path: path)
        #expect(summary.affineSource == "sform")
        #expect(summary.affine == Affine(rows: sheared))  // exactly: every value is a float32
        #expect(!summary.affine.isOrthogonal())
    }

    @Test func sformWinsOverQform() throws {
        var h = qformHeader()
        h.sformCode = 1
        h.srow = [[-1, 0, 0, 5], [0, -1, 0, 6], [0, 0, 1, 7]]
        let path = try h.write(dir.file("both.nii"), data: zeros)
        #expect(try NIfTIReader.readHeader(path: path).affine == Affine(rows: h.srow))
    }

    @Test func neitherUsesPixdimMethod1() throws {
        var h = TestNIfTI()
        h.pixdim = [-1, 2, 3, 4, 1, 1, 1, 1]
        h.quatern = [0.3, 0.2, 0.1, 5, 5, 5]  // ignored: qform_code 0
        h.srow = [[7, 0, 0, 1], [0, 7, 0, 1], [0, 0, 7, 1]]  // ignored: sform_code 0
        for version in [1, 2] {
            h.version = version
            let path = try h.write(dir.file("none\(version).nii"), data: zeros)
            let summary = try NIfTIReader.readHeader(path: path)
            #expect(summary.affineSource == "pixdim")
            #expect(summary.affine == Affine.scaling(SIMD3(2, 3, 4)))
        }
    }

    @Test func bigEndianNIfTI2SformDoublePrecision() throws {
        var h = TestNIfTI()
        h.version = 2
        h.bigEndian = true
        h.sformCode = 1
        h.srow = [[0.1234567890123, 0, 0, -123.456789012345], [0, 0.9, 0, 1.0 / 3], [0, 0, 3.3, 1e-9]]
        let path = try h.write(dir.file("be.nii"), data: encode([Double](repeating: 0, count: 24), dt: 16, bigEndian: true))
        #expect(try NIfTIReader.readHeader(path: path).affine == Affine(rows: h.srow))
    }
}
