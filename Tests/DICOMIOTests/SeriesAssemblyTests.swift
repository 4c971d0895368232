import Foundation
import ImagingCore
import Testing
@testable import DICOMIO

/// Series grouping, ordering and geometry checks on synthetic in-memory slice descriptors.
struct SeriesAssemblyTests {
    /// A slice of a stack: `position = origin + k·step` (LPS), orientation given as row/column cosines.
    static func slice(_ k: Double, row: SIMD3<Double> = SIMD3(1, 0, 0), column: SIMD3<Double> = SIMD3(0, 1, 0),
                      step: SIMD3<Double> = SIMD3(0, 0, 2.5), origin: SIMD3<Double> = SIMD3(-100, -120, 30),
                      spacing: [Double] = [0.8, 0.6], rows: Int = 4, columns: Int = 3, uid: String = "1.2.3") -> DICOMSlice {
        var s = DICOMSlice(path: "/synthetic/\(k)", rows: rows, columns: columns,
                           orientation: [row.x, row.y, row.z, column.x, column.y, column.z],
                           position: origin + step * k, pixelSpacing: spacing)
        s.seriesInstanceUID = uid
        return s
    }

    func assembled(_ slices: [DICOMSlice], allowSingle: Bool = false) throws -> AssembledSeries {
        try SeriesAssembly.assemble(slices, allowSingleSlice: allowSingle).get()
    }

    func failure(_ slices: [DICOMSlice]) -> ImagingError? {
        if case .failure(let e) = SeriesAssembly.assemble(slices, allowSingleSlice: false) { return e }
        return nil
    }

    @Test func patientLPSToRASNegatesXAndY() {
        let lps = Affine(rows: [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]])
        let ras = patientLPSToRAS(lps)
        #expect(ras.m == [-1, -2, -3, -4, -5, -6, -7, -8, 9, 10, 11, 12, 0, 0, 0, 1])
    }

    @Test func slicesAreSortedByPositionNotFileOrder() throws {
        let shuffled = [3.0, 0, 4, 1, 2].map { Self.slice($0) }
        let a = try assembled(shuffled)
        #expect(a.slices.map(\.path) == [0.0, 1.0, 2.0, 3.0, 4.0].map { "/synthetic/\($0)" })
        // Axial LPS identity orientation: i → L (RAS -x), j → P (RAS -y), k → S.
        #expect(a.affine.column(0) == SIMD3(-0.6, 0, 0))   // PixelSpacing[1] is the column spacing
        #expect(a.affine.column(1) == SIMD3(0, 0.8 * -1, 0))
        #expect(a.affine.column(2) == SIMD3(0, 0, 2.5))
        #expect(a.affine.origin == SIMD3(100, 120, 30))
        #expect(a.affine.axisCodes == "LPS")
    }

    @Test func reversedStackSortsAlongTheNormalWithPositiveDeterminant() throws {
        // Column cosine -y makes the normal -z: slices are ordered towards the feet.
        let slices = (0..<5).map { Self.slice(Double($0), column: SIMD3(0, -1, 0)) }
        let a = try assembled(slices)
        #expect(a.slices.first?.path == "/synthetic/4.0")
        #expect(a.affine.column(2) == SIMD3(0, 0, -2.5))
        #expect(a.affine.determinant > 0)
        #expect(abs(a.affine.origin.z - 40) < 1e-12)
    }

    @Test func obliqueGeometryFollowsTheStandard() throws {
        let t = 0.3
        let row = SIMD3(cos(t), sin(t), 0), col = SIMD3(0.0, 0, -1)
        let normal = row.cross(col)
        let slices = (0..<4).map { Self.slice(Double($0), row: row, column: col, step: normal * 3) }
        let a = try assembled(slices.reversed())
        let expectedI = SIMD3(-row.x, -row.y, row.z) * 0.6
        let expectedJ = SIMD3(-col.x, -col.y, col.z) * 0.8
        let expectedK = SIMD3(-normal.x, -normal.y, normal.z) * 3
        #expect((a.affine.column(0) - expectedI).length < 1e-12)
        #expect((a.affine.column(1) - expectedJ).length < 1e-12)
        #expect((a.affine.column(2) - expectedK).length < 1e-12)
        #expect(abs(a.affine.spacing.z - 3) < 1e-12)
    }

    @Test func duplicatePositionsAreRefused() {
        let slices = [0.0, 1, 1, 2].map { Self.slice($0) }
        #expect(failure(slices)?.code == .duplicatePositions)
    }

    @Test func allAtOnePositionIsNotAVolume() {
        #expect(failure([0.0, 0, 0].map { Self.slice($0) })?.code == .notAVolume)
    }

    @Test func aMissingSliceIsNonUniformSpacing() {
        let e = failure([0.0, 1, 3, 4].map { Self.slice($0) })
        #expect(e?.code == .nonuniformSpacing)
        #expect(e?.reason.contains("missing") == true)
    }

    @Test func roundingJitterIsAccepted() throws {
        var slices = (0..<6).map { Self.slice(Double($0)) }
        slices[2].position!.z += 0.004   // well under 1 % of 2.5 mm
        slices[3].position!.x += 0.00001
        let a = try assembled(slices)
        #expect(abs(a.affine.spacing.z - 2.5) < 1e-3)
    }

    @Test func gantryTiltIsRefusedWithItsAngle() {
        // Slices advance 10° off the normal (like a tilted CT gantry).
        let step = SIMD3(0, 2.5 * tan(10 * Double.pi / 180), 2.5)
        let e = failure((0..<5).map { Self.slice(Double($0), step: step) })
        #expect(e?.code == .gantryTilt)
        #expect(e?.reason.contains("10.0") == true, "\(e?.reason ?? "")")
    }

    @Test func slicesOffTheLineAreBadGeometry() {
        var slices = (0..<5).map { Self.slice(Double($0)) }
        slices[2].position!.x += 2   // one slice shifted sideways by 3 pixels; first and last in line
        #expect(failure(slices)?.code == .badGeometry)
    }

    @Test func singleSliceIsRefusedUnlessAllowed() throws {
        #expect(failure([Self.slice(0)])?.code == .singleSlice)
        var one = Self.slice(0)
        one.sliceThickness = 5
        let a = try assembled([one], allowSingle: true)
        #expect(a.affine.spacing.z == 5)
    }

    @Test func mixedOrientationsAndMatricesAreSplit() {
        let axial = (0..<3).map { Self.slice(Double($0)) }
        let coronal = (0..<3).map { Self.slice(Double($0), column: SIMD3(0, 0, -1), step: SIMD3(0, 3, 0)) }
        let bigger = (0..<2).map { Self.slice(Double($0), rows: 8) }
        let groups = SeriesAssembly.group(axial + coronal + bigger)
        #expect(groups.count == 3)
        #expect(Set(groups.map(\.count)) == [3, 2])
        let otherSeries = (0..<3).map { Self.slice(Double($0), uid: "9.9") }
        #expect(SeriesAssembly.group(axial + otherSeries).count == 2)
    }

    @Test func echoesAndImageTypesAreSplit() {
        var slices = (0..<4).map { Self.slice(Double($0 / 2)) }
        for i in slices.indices { slices[i].echo = i % 2 == 0 ? "1" : "2" }
        #expect(SeriesAssembly.group(slices).count == 2)
        var localizer = Self.slice(7)
        localizer.imageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
        #expect(SeriesAssembly.group(slices + [localizer]).count == 3)
    }

    @Test func mosaicColourAndMissingGeometryHaveTheirOwnCodes() {
        var mosaic = (0..<3).map { Self.slice(Double($0)) }
        mosaic[0].imageType = ["ORIGINAL", "PRIMARY", "M", "ND", "MOSAIC"]
        #expect(failure(mosaic)?.code == .mosaicUnsupported)
        var rgb = (0..<3).map { Self.slice(Double($0)) }
        rgb[1].samplesPerPixel = 3
        #expect(failure(rgb)?.code == .colorUnsupported)
        var palette = (0..<3).map { Self.slice(Double($0)) }
        palette[0].photometric = "PALETTE COLOR"
        #expect(failure(palette)?.code == .colorUnsupported)
        var bare = (0..<3).map { Self.slice(Double($0)) }
        bare[2].position = nil
        #expect(failure(bare)?.code == .missingGeometry)
        var mixed = (0..<3).map { Self.slice(Double($0)) }
        mixed[1].bitsStored = 12
        #expect(failure(mixed)?.code == .inconsistentSlices)
    }

    @Test func storedValuesAreMaskedAndSignExtended() {
        // 12 bits stored in 16, signed: 0x0FFF is -1, 0x0800 is -2048, high garbage bits ignored.
        #expect(PixelDecoder.storedValue(0x0FFF, shift: 0, mask: 0x0FFF, bits: 12, signed: true) == -1)
        #expect(PixelDecoder.storedValue(0xF800, shift: 0, mask: 0x0FFF, bits: 12, signed: true) == -2048)
        #expect(PixelDecoder.storedValue(0xF7FF, shift: 0, mask: 0x0FFF, bits: 12, signed: true) == 2047)
        #expect(PixelDecoder.storedValue(0xFFFF, shift: 0, mask: 0x0FFF, bits: 12, signed: false) == 4095)
        // HighBit 15 with 12 bits stored: the value sits in the top bits.
        #expect(PixelDecoder.storedValue(0xFFF0, shift: 4, mask: 0x0FFF, bits: 12, signed: true) == -1)
        #expect(PixelDecoder.storedValue(0x8000, shift: 0, mask: 0xFFFF, bits: 16, signed: true) == -32768)
    }
}
