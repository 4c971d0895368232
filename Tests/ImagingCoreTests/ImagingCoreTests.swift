import Testing
@testable import ImagingCore

@Suite struct AffineTests {
    let oblique = Affine(rows: [[0.0, -0.8, 0.2, 10], [0.9, 0.0, 0.1, -20], [0.1, 0.3, 2.5, 5]])

    @Test func inverseUndoesTheTransform() throws {
        let inv = try #require(oblique.inverse)
        for p in [SIMD3<Double>(0, 0, 0), SIMD3(3.5, -2, 7), SIMD3(100, 50, -3)] {
            let back = inv.apply(oblique.apply(p))
            #expect((back - p).length < 1e-9)
        }
        #expect((oblique * inv).maxDifference(to: .identity) < 1e-12)
    }

    @Test func singularAffineHasNoInverse() {
        let flat = Affine(rows: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]])
        #expect(flat.inverse == nil)
        #expect(!flat.isValid)
    }

    @Test func spacingDeterminantAndAxisCodes() {
        let lps = Affine(columns: SIMD3(-0.5, 0, 0), SIMD3(0, -0.5, 0), SIMD3(0, 0, 3), origin: SIMD3(1, 2, 3))
        #expect(lps.spacing == SIMD3(0.5, 0.5, 3))
        #expect(abs(lps.determinant - 0.75) < 1e-12)
        #expect(lps.axisCodes == "LPS")
        #expect(Affine.identity.axisCodes == "RAS")
        let sagittal = Affine(columns: SIMD3(0, 1, 0), SIMD3(0, 0, -1), SIMD3(-1, 0, 0), origin: .zero)
        #expect(sagittal.axisCodes == "AIL")
        #expect(sagittal.determinant == 1)  // a · (b × c) = (0,1,0) · (0,1,0)
    }

    @Test func productAppliesRightOperandFirst() {
        let shift = Affine.scaling(SIMD3(1, 1, 1), origin: SIMD3(5, 0, 0))
        let scale = Affine.scaling(SIMD3(2, 2, 2))
        #expect((shift * scale).apply(SIMD3(1, 0, 0)) == SIMD3(7, 0, 0))
        #expect((scale * shift).apply(SIMD3(1, 0, 0)) == SIMD3(12, 0, 0))
    }

    @Test func orthogonalityIsDetected() {
        #expect(Affine.identity.isOrthogonal())
        #expect(!oblique.isOrthogonal())
    }
}

@Suite struct GridTests {
    @Test func offsetsAreNIfTIOrder() {
        let grid = Grid(shape: [4, 3, 2], affine: .identity)
        #expect(grid.offset(1, 0, 0) == 1)
        #expect(grid.offset(0, 1, 0) == 4)
        #expect(grid.offset(0, 0, 1) == 12)
        var v = Volume<Int32>(grid: grid, repeating: 0)
        v[3, 2, 1] = 9
        #expect(v.data[23] == 9)
    }

    @Test func voxelVolumeIsTheDeterminant() {
        let sheared = Affine(rows: [[1, 0.5, 0, 0], [0, 2, 0, 0], [0, 0, 3, 0]])
        #expect(Grid(shape: [1, 1, 1], affine: sheared).voxelVolume == 6)
    }

    @Test func errorDescriptionNamesInputCodeAndRemedy() {
        let e = ImagingError(.truncated, input: "scan.nii", reason: "the file ends early", remedy: "copy it again")
        #expect(e.description == "scan.nii: the file ends early [truncated] — copy it again")
    }
}

@Suite struct ImagingErrorMessageTests {
    @Test func operatorMessageJoinsReasonAndRemedyAsSentences() {
        let e = ImagingError(.tooLarge, input: "a.nii", reason: "the grid needs 9 × 9 voxels (at most 4)", remedy: "check the header")
        #expect(e.operatorMessage == "The grid needs 9 × 9 voxels (at most 4). Check the header.")
        #expect(ImagingError.sentences(["Done!", "", " ok? ", "a. "]) == "Done! Ok? A.")
        #expect(ImagingError.sentences([]) == "")
    }
}
