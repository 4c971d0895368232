import Foundation
import ImagingCore
import Testing
@testable import DICOMIO

/// Series written through DCMTK read back with the same voxels and geometry, for every
/// transfer syntax the writer offers (the compressed ones are lossless).
@Suite struct WriterRoundTripTests {
    static func volume(signed: Bool) -> ImageVolume {
        // Oblique slices (20° about x), negative-determinant-free LPS-like in-plane axes.
        let c = cos(20 * Double.pi / 180), s = sin(20 * Double.pi / 180)
        let affine = Affine(columns: SIMD3(-0.7, 0, 0), SIMD3(0, -0.7 * c, 0.7 * s), SIMD3(0, 3 * s, 3 * c),
                            origin: SIMD3(40, 30, -12.5))
        let grid = Grid(shape: [12, 9, 5], affine: affine)
        return ImageVolume(grid: grid, data: (0..<grid.voxelCount).map { Float(($0 * 37) % 900) - (signed ? 300 : 0) })
    }

    @Test(arguments: DICOMTransferSyntax.allCases, [false, true])
    func writtenSeriesReadsBackExactly(_ syntax: DICOMTransferSyntax, signed: Bool) throws {
        let dir = NSTemporaryDirectory() + "dcm-writer-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let original = Self.volume(signed: signed)
        var metadata = ScanMetadata()
        metadata.modality = "MR"
        metadata.seriesDescription = "writer test"
        var options = DICOMSeriesWriter.Options()
        options.transferSyntax = syntax
        let files = try DICOMSeriesWriter.write(original, metadata: metadata, to: dir, options: options)
        #expect(files.count == 5)

        let read = try DICOMReader.read(paths: [dir])
        #expect(read.series.count == 1)
        let scan = try read.series[0].result.get()
        #expect(scan.image.shape == original.shape)
        #expect(scan.image.grid.affine.maxDifference(to: original.grid.affine) < 1e-4)
        #expect(scan.image.data == original.data)
        #expect(scan.metadata.seriesDescription == "writer test")
    }

    @Test func scaledValuesUseRescaleSlopeAndIntercept() throws {
        let dir = NSTemporaryDirectory() + "dcm-writer-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let grid = Grid(shape: [4, 4, 3], affine: .scaling(SIMD3(1, 1, 2)))
        let original = ImageVolume(grid: grid, data: (0..<48).map { Float($0) * 0.5 - 1024 })
        var options = DICOMSeriesWriter.Options()
        options.rescaleSlope = 0.5
        options.rescaleIntercept = -1024
        try DICOMSeriesWriter.write(original, metadata: ScanMetadata(), to: dir, options: options)
        let scan = try DICOMReader.read(paths: [dir]).series[0].result.get()
        #expect(scan.image.data == original.data)
    }

    /// A given series UID makes the output reproducible byte for byte (phantoms rely on it), and
    /// the instances read back under that series. Every syntax: JPEG-LS once padded with an
    /// uninitialised byte.
    @Test(arguments: DICOMTransferSyntax.allCases)
    func givenSeriesUIDMakesIdenticalBytes(_ syntax: DICOMTransferSyntax) throws {
        var metadata = ScanMetadata()
        metadata.seriesInstanceUID = "2.25.1234567890123"
        metadata.studyInstanceUID = "2.25.99"
        var options = DICOMSeriesWriter.Options()
        options.transferSyntax = syntax
        var runs: [[Data]] = []
        for _ in 0..<2 {
            let dir = NSTemporaryDirectory() + "dcm-writer-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let files = try DICOMSeriesWriter.write(Self.volume(signed: true), metadata: metadata, to: dir, options: options)
            runs.append(try files.map { try Data(contentsOf: URL(fileURLWithPath: $0)) })
            let scan = try DICOMReader.read(paths: [dir]).series[0].result.get()
            #expect(scan.metadata.seriesInstanceUID == "2.25.1234567890123")
        }
        #expect(runs[0].count == 5)
        #expect(runs[0] == runs[1])
    }
}
