import Foundation
import ImagingCore
import Testing
@testable import DICOMIO

/// `PixelDecoder.decode` (files in parallel, uninitialised volume) against its sequential twin
/// `referenceDecode`: the same voxels bit for bit, and the same error when a file fails.
@Suite struct PixelDecoderTwinTests {
    /// Both decoders on one read; every series' outcome must agree (voxels, grid, or error).
    static func expectTwins(_ paths: [String], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let fast = try DICOMReader.read(paths: paths, options: .init(), referencePixels: false)
        let reference = try DICOMReader.read(paths: paths, options: .init(), referencePixels: true)
        #expect(fast.series.count == reference.series.count, "\(what)", sourceLocation: sourceLocation)
        for (f, r) in zip(fast.series, reference.series) {
            switch (f.result, r.result) {
            case (.success(let a), .success(let b)):
                #expect(a.image.grid == b.image.grid, "\(what) \(f.key)", sourceLocation: sourceLocation)
                #expect(a.image.data.map(\.bitPattern) == b.image.data.map(\.bitPattern), "\(what) \(f.key)", sourceLocation: sourceLocation)
            case (.failure(let a), .failure(let b)):
                #expect(a.code == b.code && a.input == b.input && a.reason == b.reason, "\(what) \(f.key)", sourceLocation: sourceLocation)
            default:
                Issue.record("\(what) \(f.key): one decoder failed, the other did not", sourceLocation: sourceLocation)
            }
        }
    }

    /// Every transfer syntax the writer makes, signed and unsigned, rescaled, with an odd matrix
    /// (13 × 7) and more files than cores.
    @Test(arguments: DICOMTransferSyntax.allCases)
    func writtenSeries(_ syntax: DICOMTransferSyntax) throws {
        for signed in [false, true] {
            let dir = NSTemporaryDirectory() + "dcm-twin-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let affine = Affine(columns: SIMD3(-0.7, 0, 0), SIMD3(0, -0.9, 0.1), SIMD3(0, 0.3, 3), origin: SIMD3(40, 30, -12.5))
            let grid = Grid(shape: [13, 7, 9], affine: affine)
            let volume = ImageVolume(grid: grid, data: (0..<grid.voxelCount).map { Float(($0 * 37) % 901) - (signed ? 300 : 0) })
            var options = DICOMSeriesWriter.Options()
            options.transferSyntax = syntax
            options.rescaleSlope = 0.5
            options.rescaleIntercept = -7
            try DICOMSeriesWriter.write(volume, metadata: ScanMetadata(), to: dir, options: options)
            try Self.expectTwins([dir], "\(syntax.name) signed \(signed)")
        }
    }

    /// Two files cut short in the middle of the series (DCMTK refuses them when parsing, so they
    /// are skipped): both decoders give the same outcome for what is left.
    @Test func truncatedFilesFailAlike() throws {
        let dir = NSTemporaryDirectory() + "dcm-twin-cut-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let grid = Grid(shape: [16, 16, 6], affine: Affine(columns: SIMD3(1, 0, 0), SIMD3(0, 1, 0), SIMD3(0, 0, 2), origin: SIMD3(0, 0, 0)))
        let volume = ImageVolume(grid: grid, data: (0..<grid.voxelCount).map { Float($0 % 400) })
        let files = try DICOMSeriesWriter.write(volume, metadata: ScanMetadata(), to: dir)
        for index in [4, 2] {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: files[index]))
            try bytes.prefix(bytes.count - 200).write(to: URL(fileURLWithPath: files[index]))
        }
        try Self.expectTwins([dir], "two truncated files")
        let read = try DICOMReader.read(paths: [dir])
        let decodeFailed = read.series.contains { if case .failure(let e) = $0.result { e.code == .pixelDecodeFailed || e.code == .truncated } else { false } }
        #expect(decodeFailed || !read.skipped.isEmpty || read.series.count != 1)
    }

    /// Compressed pixel data damaged inside two files of a series (the headers still parse):
    /// when a codec fails, both decoders give the error of the first failing file in file order,
    /// although the parallel decoder decodes the other files too.
    @Test(arguments: [DICOMTransferSyntax.jpegLS, .jpegLossless, .rle])
    func damagedPixelsFailAlike(_ syntax: DICOMTransferSyntax) throws {
        let dir = NSTemporaryDirectory() + "dcm-twin-bad-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let grid = Grid(shape: [32, 32, 6], affine: Affine(columns: SIMD3(1, 0, 0), SIMD3(0, 1, 0), SIMD3(0, 0, 2), origin: SIMD3(0, 0, 0)))
        let volume = ImageVolume(grid: grid, data: (0..<grid.voxelCount).map { Float(($0 * 7919) % 4000) })
        var options = DICOMSeriesWriter.Options()
        options.transferSyntax = syntax
        let files = try DICOMSeriesWriter.write(volume, metadata: ScanMetadata(), to: dir, options: options)
        for index in [4, 1] {
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: files[index])))
            for n in (bytes.count - 400)..<(bytes.count - 40) { bytes[n] = UInt8(truncatingIfNeeded: n * 131 + index) | 0x80 }
            try Data(bytes).write(to: URL(fileURLWithPath: files[index]))
        }
        try Self.expectTwins([dir], "damaged \(syntax.name)")
        let read = try DICOMReader.read(paths: [dir])
        let failure = read.series.first.flatMap { if case .failure(let e) = $0.result { e } else { nil } }
        if syntax == .rle {
            #expect(failure == nil)  // RLE decodes damaged runs into other values (equal in both, above)
        } else {
            // The first damaged file in file order (IM0002), although the other one (IM0005) is decoded too.
            #expect(failure?.code == .pixelDecodeFailed && failure?.input.hasSuffix("IM0002.dcm") == true, "\(syntax.name): \(String(describing: failure))")
        }
    }

    /// The shared corpus: JPEG 2000 (overlapping slices), JPEG, JPEG-LS, RLE, oblique, enhanced
    /// multi-frame, non-square pixels with rescale, gantry tilt, two orientations in one folder.
    @Test func corpusSeries() throws {
        guard Corpus.available else { return }
        let cases = try FileManager.default.contentsOfDirectory(atPath: Corpus.root.appendingPathComponent("dicom").path).sorted()
        #expect(cases.count >= 10)
        for name in cases {
            let files = Corpus.files(name)
            guard !files.isEmpty else { continue }
            do {
                try Self.expectTwins(files, name)
            } catch let error as ImagingError where error.code == .noDICOM {
                continue
            }
        }
    }
}
