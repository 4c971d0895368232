import Foundation
import ImagingCore
import Testing
@testable import NIfTIIO

@Suite struct WriterTests {
    let dir = TempDir()

    /// Rotation by `angle` about the unit axis `u` (Rodrigues), as columns.
    static func rotation(_ u: SIMD3<Double>, _ angle: Double) -> [SIMD3<Double>] {
        let c = cos(angle), s = sin(angle), t = 1 - c
        return [SIMD3(t * u.x * u.x + c, t * u.x * u.y + s * u.z, t * u.x * u.z - s * u.y),
                SIMD3(t * u.x * u.y - s * u.z, t * u.y * u.y + c, t * u.y * u.z + s * u.x),
                SIMD3(t * u.x * u.z + s * u.y, t * u.y * u.z - s * u.x, t * u.z * u.z + c)]
    }

    /// An oblique affine (30° about a skew axis) with anisotropic spacing; `flip` negates the
    /// first column (negative determinant, like LPS-ordered DICOM data).
    static func oblique(flip: Bool) -> Affine {
        let r = rotation(SIMD3(1, 2, 3) / SIMD3<Double>(1, 2, 3).length, .pi / 6)
        return Affine(columns: r[0] * (flip ? -0.8 : 0.8), r[1] * 1.25, r[2] * 3.5, origin: SIMD3(-120.5, 33.25, 87.125))
    }

    /// Within float32 precision: NIfTI-1 stores the sform as float32.
    static func close(_ a: Affine, _ b: Affine, _ tol: Double = 1e-6) -> Bool {
        zip(a.m, b.m).allSatisfy { abs($0 - $1) <= tol * max(1, abs($1)) }
    }

    func image(_ affine: Affine) -> ImageVolume {
        let grid = Grid(shape: [5, 4, 3], affine: affine)
        return ImageVolume(grid: grid, data: (0..<60).map { Float($0) * 0.37 - 5 + ($0 == 7 ? .ulpOfOne : 0) })
    }

    @Test(arguments: [false, true])
    func floatRoundTripIsExactAndGeometryClose(_ flip: Bool) throws {
        let affine = Self.oblique(flip: flip)
        #expect((affine.determinant < 0) == flip)
        let original = image(affine)
        for name in ["img.nii.gz", "img.nii"] {
            let path = dir.file(name)
            try NIfTIWriter.writeImage(original, to: path)
            let back = try NIfTIReader.readImage(path: path)
            #expect(back.image.data == original.data)
            #expect(back.image.shape == original.shape)
            #expect(Self.close(back.image.grid.affine, affine), "\(back.image.grid.affine)")
            let summary = try NIfTIReader.readHeader(path: path)
            #expect(summary.sformCode == 1 && summary.qformCode == 1 && summary.datatype == 16)
        }
        // The qform alone (sform_code patched to 0) gives the same affine for a rigid+scaling one.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.file("img.nii"))))
        bytes[254] = 0
        bytes[255] = 0
        let qonly = dir.file("qonly.nii")
        try Data(bytes).write(to: URL(fileURLWithPath: qonly))
        let q = try NIfTIReader.readHeader(path: qonly)
        #expect(q.affineSource == "qform")
        #expect(Self.close(q.affine, affine, 1e-5), "\(q.affine)")
    }

    @Test func shearedAffineKeepsSformAndGetsNearestRigidQform() throws {
        let sheared = Affine(rows: [[1, 0.3, 0, 10], [0, 1, 0, 20], [0, 0, 2, 30]])
        let path = dir.file("shear.nii")
        try NIfTIWriter.writeImage(image(sheared), to: path)
        #expect(Self.close(try NIfTIReader.readHeader(path: path).affine, sheared))
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[254] = 0
        let qonly = dir.file("shear-q.nii")
        try Data(bytes).write(to: URL(fileURLWithPath: qonly))
        let q = try NIfTIReader.readHeader(path: qonly).affine
        #expect(q.isOrthogonal(tolerance: 1e-5))
        #expect(q.origin == SIMD3(10, 20, 30))
        #expect(abs(q.spacing.y - (1.09).squareRoot()) < 1e-5)  // column norms become pixdim
    }

    @Test func int16ImagesExactForIntegersQuantizedOtherwise() throws {
        let grid = Grid(shape: [4, 3, 2], affine: .scaling(SIMD3(1, 2, 3)))
        let ints = ImageVolume(grid: grid, data: (0..<24).map { Float($0 * 1000 - 12000) })
        let options = NIfTIWriteOptions(imageDatatype: .int16)
        try NIfTIWriter.writeImage(ints, to: dir.file("i16.nii.gz"), options: options)
        #expect(try NIfTIReader.readImage(path: dir.file("i16.nii.gz")).image.data == ints.data)
        #expect(try NIfTIReader.readHeader(path: dir.file("i16.nii.gz")).datatype == 4)
        let reals = ImageVolume(grid: grid, data: (0..<24).map { Float($0) * 0.123 + 0.001 })
        try NIfTIWriter.writeImage(reals, to: dir.file("q16.nii.gz"), options: options)
        let back = try NIfTIReader.readImage(path: dir.file("q16.nii.gz")).image.data
        let step = (reals.data.max()! - reals.data.min()!) / 65534
        #expect(zip(back, reals.data).allSatisfy { abs($0 - $1) <= step })
        #expect(back != reals.data)  // quantized, not exact
    }

    static let table = LabelTable(entries: [
        LabelEntry(id: 1, name: "liver", color: [10, 20, 30]),
        LabelEntry(id: 2, name: "kidney <left> & \"right\" ]]> end"),
        LabelEntry(id: 250, name: "vertebrae_L1", color: [128, 0, 255]),
    ])

    /// Cross-checked by hand with nibabel 5.4.2 on this file: shape (3, 2, 2), uint8, intent 1002,
    /// sform_code = qform_code = 1, affine equal to `oblique(flip: true)` within 1e-7, qform within
    /// 6.2e-7 of the sform, data in Fortran order as written, one extension of code 0 whose XML
    /// yields {1: liver, 2: ..., 250: vertebrae_L1}.
    @Test func labelsUInt8WithTableAndSidecar() throws {
        let grid = Grid(shape: [3, 2, 2], affine: Self.oblique(flip: true))
        let labels = LabelVolume(grid: grid, data: [0, 1, 1, 2, 250, 0, 0, 2, 2, 1, 0, 250])
        let path = dir.file("labels.nii.gz")
        try NIfTIWriter.writeLabels(labels, table: Self.table, to: path)
        let (back, table) = try NIfTIReader.readLabels(path: path)
        #expect(back.data == labels.data)
        #expect(Self.close(back.grid.affine, grid.affine))
        let summary = try NIfTIReader.readHeader(path: path)
        #expect(summary.datatype == 2 && summary.intentCode == 1002)
        // Entry 2 had no colour: TotalSegmentator's palette, colors[2 % 12] = blue.
        var expected = Self.table
        expected.entries[1].color = [0, 0, 255]
        #expect(table == expected)
        // The sidecar holds the same table in segvol's JSON format.
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("labels.json")))) as! [String: Any]
        let first = (json["labels"] as! [[String: Any]])[0]
        #expect(first["id"] as? Int == 1 && first["name"] as? String == "liver" && first["color"] as? [Int] == [10, 20, 30])
        // No temporary files are left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["labels.json", "labels.nii.gz"])
    }

    /// The label writer's one-pass range and uint8 payload equal `min()`, `max()` and the
    /// truncating map, for one chunk and for many (sizes across chunk boundaries), with the
    /// extremes at the ends and negative and wide ids.
    @Test func labelRangeAndLowBytesEqualTheDirectOnes() {
        var state: UInt64 = 5
        for n in [0, 1, 7, (1 << 18) - 1, 1 << 18, (1 << 19) + 3, 3 << 20] {
            var data = (0..<n).map { _ -> Int32 in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Int32(truncatingIfNeeded: state >> 40) % 60
            }
            if n > 2 {
                data[0] = n % 2 == 0 ? -3 : 70_000
                data[n - 1] = n % 2 == 0 ? 300 : -70_000
            }
            let (low, high, bytes) = NIfTIWriter.lowBytesAndRange(data)
            #expect(low == (data.min() ?? 0) && high == (data.max() ?? 0), "n \(n)")
            #expect(bytes == data.map { UInt8(truncatingIfNeeded: $0) }, "n \(n)")
        }
    }

    @Test func labelsInt16ForFourDigitIds() throws {
        let grid = Grid(shape: [2, 2, 1], affine: .identity)
        let labels = LabelVolume(grid: grid, data: [0, 5121, 7101, -3])
        let path = dir.file("big.nii")
        try NIfTIWriter.writeLabels(labels, table: nil, to: path)
        #expect(try NIfTIReader.readHeader(path: path).datatype == 4)
        let (back, table) = try NIfTIReader.readLabels(path: path)
        #expect(back.data == labels.data && table == nil)
        #expect(!FileManager.default.fileExists(atPath: dir.file("big.json")))
        expectRefusal(.niftiLabelOutOfRange) {
            try NIfTIWriter.writeLabels(labels, table: nil, to: dir.file("u8.nii"), options: .init(labelDatatype: .uint8))
        }
        expectRefusal(.niftiLabelOutOfRange) {
            try NIfTIWriter.writeLabels(LabelVolume(grid: grid, data: [0, 1, 2, 40_000]), table: nil, to: dir.file("x.nii"))
        }
    }

    /// The extension content is byte-for-byte what TotalSegmentator's add_label_map_to_nifti
    /// writes for {1: "spleen", 2: "kidney_right"} (colours colors[1], colors[2]).
    @Test func extensionMatchesTotalSegmentatorFormat() throws {
        let xml = LabelTableXML.encode(LabelTable(entries: [LabelEntry(id: 1, name: "spleen"), LabelEntry(id: 2, name: "kidney_right")]))
        let expected = """
            <?xml version="1.0" encoding="UTF-8"?> <CaretExtension>  <Date><![CDATA[2013-07-14T05:45:09]]></Date>   <VolumeInformation Index="0">   <LabelTable>
            <Label Key="1" Red="0.0" Green="1.0" Blue="0.0" Alpha="1"><![CDATA[spleen]]></Label>
            <Label Key="2" Red="0.0" Green="0.0" Blue="1.0" Alpha="1"><![CDATA[kidney_right]]></Label>

              </LabelTable>  <StudyMetaDataLinkSet>  </StudyMetaDataLinkSet>  <VolumeType><![CDATA[Label]]></VolumeType>   </VolumeInformation></CaretExtension>

            """ + "              "
        #expect(xml == expected)
        let ext = NIfTIWriter.extensionBytes(code: 0, content: Array(xml.utf8))
        #expect(ext.count % 16 == 0 && ext[4..<8] == [0, 0, 0, 0])
    }

    @Test func writeFailuresAreTyped() throws {
        let grid = Grid(shape: [1, 1, 1], affine: .identity)
        expectRefusal(.writeFailed) {
            try NIfTIWriter.writeImage(ImageVolume(grid: grid, data: [1]), to: dir.file("missing/sub/x.nii.gz"))
        }
        var bad = Affine.identity
        bad[1, 1] = 0
        expectRefusal(.badGeometry) {
            try NIfTIWriter.writeImage(ImageVolume(grid: Grid(shape: [1, 1, 1], affine: bad), data: [1]), to: dir.file("bad.nii"))
        }
    }

    @Test func overwriteReplacesWholeFile() throws {
        let path = dir.file("over.nii.gz")
        let big = ImageVolume(grid: Grid(shape: [20, 20, 20], affine: .identity), data: [Float](repeating: 3, count: 8000))
        try NIfTIWriter.writeImage(big, to: path)
        let small = image(.identity)
        try NIfTIWriter.writeImage(small, to: path)
        #expect(try NIfTIReader.readImage(path: path).image.data == small.data)
    }
}
