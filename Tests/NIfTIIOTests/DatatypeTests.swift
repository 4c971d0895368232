import Foundation
import ImagingCore
import Testing
@testable import NIfTIIO

/// Every supported datatype in both byte orders and both header versions, scaling, 4-D.
@Suite struct DatatypeTests {
    let dir = TempDir()

    /// Values representable in every datatype's range, chosen per type so that a wrong width,
    /// sign or byte order changes them.
    static func values(for dt: Int) -> [Double] {
        let base: [Double]
        switch dt {
        case 2: base = [0, 1, 2, 127, 128, 200, 255]
        case 256: base = [-128, -1, 0, 1, 77, 127]
        case 4: base = [-32768, -300, -1, 0, 1, 258, 32767]
        case 512: base = [0, 1, 258, 32768, 65535]
        case 8: base = [-2_000_000, -1, 0, 1, 65_536, 16_777_216]
        case 768: base = [0, 1, 65_536, 16_777_216, 3_000_000_000]
        case 16: base = [-1.5, 0, 0.1, 3.25, 1e-3, 123_456.78]
        default: base = [-1.5, 0, 0.1, 3.25, 1e300, -2.5e-7]
        }
        return (0..<24).map { base[$0 % base.count] }
    }

    @Test(arguments: [2, 256, 4, 512, 8, 768, 16, 64], [false, true])
    func datatypeAndByteOrder(_ dt: Int, _ bigEndian: Bool) throws {
        for version in [1, 2] {
            var h = TestNIfTI()
            h.version = version
            h.datatype = dt
            h.bigEndian = bigEndian
            let values = Self.values(for: dt)
            let path = try h.write(dir.file("dt\(dt)-\(version)-\(bigEndian).nii"), data: encode(values, dt: dt, bigEndian: bigEndian))
            let scan = try NIfTIReader.readImage(path: path)
            #expect(scan.image.data == values.map { Float($0) }, "dt \(dt) v\(version) be \(bigEndian)")
            #expect(scan.metadata.sourceFormat == "nifti-\(version)")
            let summary = try NIfTIReader.readHeader(path: path)
            #expect(summary.version == version && summary.bigEndian == bigEndian && summary.datatype == dt)
            #expect(summary.dims == [2, 3, 4])
            if dt != 16 && dt != 64 && dt != 768 {  // 3e9 is past Int32: see uint32LabelPastInt32IsRefused
                let (labels, table) = try NIfTIReader.readLabels(path: path)
                #expect(labels.data == values.map { Int32(exactly: $0) ?? -1 })
                #expect(table == nil)
            }
        }
    }

    @Test func uint32LabelPastInt32IsRefused() throws {
        var h = TestNIfTI()
        h.datatype = 768
        let path = try h.write(dir.file("u32.nii"), data: encode(Self.values(for: 768), dt: 768))
        expectRefusal(.niftiNonIntegralLabel) { _ = try NIfTIReader.readLabels(path: path) }
    }

    @Test func scalingAppliedAndIgnoredWhenSlopeZero() throws {
        var h = TestNIfTI()
        h.datatype = 4
        h.slope = 0.5
        h.inter = -10
        let raw = (0..<24).map { Double($0 * 3 - 20) }
        let path = try h.write(dir.file("scaled.nii.gz"), data: encode(raw, dt: 4))
        let scan = try NIfTIReader.readImage(path: path)
        #expect(scan.image.data == raw.map { Float($0 * 0.5 - 10) })
        #expect(try NIfTIReader.readHeader(path: path).scaling?.slope == 0.5)
        // Integral results of scaling are valid labels.
        h.slope = 2
        h.inter = 1
        let lp = try h.write(dir.file("scaled-labels.nii"), data: encode(raw, dt: 4))
        #expect(try NIfTIReader.readLabels(path: lp).0.data == raw.map { Int32($0 * 2 + 1) })
        // slope 0 means "no scaling" (nifti1.h), whatever the intercept says, even NaN.
        h.slope = 0
        h.inter = .nan
        let unscaled = try h.write(dir.file("unscaled.nii"), data: encode(raw, dt: 4))
        #expect(try NIfTIReader.readImage(path: unscaled).image.data == raw.map { Float($0) })
        #expect(try NIfTIReader.readHeader(path: unscaled).scaling == nil)
    }

    @Test func bigEndianScaledNIfTI2Gz() throws {
        var h = TestNIfTI()
        h.version = 2
        h.bigEndian = true
        h.datatype = 512
        h.slope = 0.25
        h.inter = 100
        let raw = (0..<24).map { Double($0 * 1000) }
        let path = try h.write(dir.file("be2.nii.gz"), data: encode(raw, dt: 512, bigEndian: true))
        #expect(try NIfTIReader.readImage(path: path).image.data == raw.map { Float($0 * 0.25 + 100) })
    }

    @Test func fourDSelectsVolumeWithWarning() throws {
        for version in [1, 2] {
            var h = TestNIfTI()
            h.version = version
            h.dim = [4, 2, 3, 4, 3, 1, 1, 1]
            let values = (0..<72).map(Double.init)
            let path = try h.write(dir.file("4d-\(version).nii.gz"), data: encode(values, dt: 16))
            let first = try NIfTIReader.readImage(path: path)
            #expect(first.image.shape == [2, 3, 4])
            #expect(first.image.data == (0..<24).map(Float.init))
            #expect(first.warnings.count == 1 && first.warnings[0].contains("volume 0 of 3"))
            let third = try NIfTIReader.readImage(path: path, options: .init(volumeIndex: 2))
            #expect(third.image.data == (48..<72).map(Float.init))
            #expect(try NIfTIReader.readHeader(path: path).volumeCount == 3)
            let (labels, _) = try NIfTIReader.readLabels(path: path, options: .init(volumeIndex: 1))
            #expect(labels.data == (24..<48).map(Int32.init))
        }
        // 5-D: dims 4 and 5 multiply into volumes.
        var h = TestNIfTI()
        h.dim = [5, 2, 3, 4, 1, 2, 1, 1]
        let path = try h.write(dir.file("5d.nii"), data: encode((0..<48).map(Double.init), dt: 16))
        #expect(try NIfTIReader.readImage(path: path, options: .init(volumeIndex: 1)).image.data[0] == 24)
    }

    @Test func lowerDimensionalFilesPadShape() throws {
        var h = TestNIfTI()
        h.dim = [2, 4, 6, 0, 0, 0, 0, 0]  // dims past dim[0] are ignored, even when 0
        let path = try h.write(dir.file("2d.nii"), data: encode((0..<24).map(Double.init), dt: 16))
        let scan = try NIfTIReader.readImage(path: path)
        #expect(scan.image.shape == [4, 6, 1])
        #expect(scan.warnings.isEmpty)
    }

    @Test func extensionsBeforeDataAreSkipped() throws {
        var h = TestNIfTI()
        h.extensions = NIfTIWriter.extensionBytes(code: 6, content: Array("a comment that is not a label table".utf8))
        let values = (0..<24).map { Double($0) * 0.5 }
        let path = try h.write(dir.file("ext.nii"), data: encode(values, dt: 16))
        #expect(try NIfTIReader.readHeader(path: path).voxOffset == 352 + 48)
        #expect(try NIfTIReader.readImage(path: path).image.data == values.map(Float.init))
    }

    /// The parallel chunked decode against the sequential twin, bit for bit: every datatype in
    /// both byte orders, with and without scaling, volumes of several chunks with an odd voxel
    /// count (chunk edges fall mid-row), a 4-D file's later volume, and a one-voxel volume.
    @Test(arguments: [2, 256, 4, 512, 8, 768, 16, 64])
    func chunkedDecodeEqualsTheSequentialTwin(_ dt: Int) throws {
        let shapes: [[Int64]] = [[3, 263, 257, 8], [4, 131, 67, 60, 2], [3, 1, 1, 1]]
        for (s, dims) in shapes.enumerated() {
            for bigEndian in [false, true] {
                for (slope, inter) in [(1.0, 0.0), (0.37, -12.5)] {
                    var h = TestNIfTI()
                    h.bigEndian = bigEndian
                    h.datatype = dt
                    h.dim = dims + [Int64](repeating: 1, count: 8 - dims.count)
                    h.slope = slope
                    h.inter = inter
                    let count = dims.dropFirst().reduce(1) { $0 * Int($1) }
                    let base = Self.values(for: dt)
                    var values = (0..<count).map { base[($0 * 7 + $0 / 5) % base.count] }
                    if dt == 16 || dt == 64 { values[count / 2] = .nan; values[0] = -.infinity }
                    let path = try h.write(dir.file("twin-\(dt)-\(s)-\(bigEndian)-\(slope).nii"), data: encode(values, dt: dt, bigEndian: bigEndian))
                    let file = try FileLoader.load(path: path, options: NIfTIReadOptions(), headerOnly: false)
                    for volume in 0..<file.layout.volumeCount {
                        let fast = decodeImage(file, volume: volume), reference = referenceDecodeImage(file, volume: volume)
                        #expect(fast.count == file.layout.voxelsPerVolume)
                        #expect(fast.map(\.bitPattern) == reference.map(\.bitPattern), "dt \(dt) dims \(dims) be \(bigEndian) slope \(slope) volume \(volume)")
                    }
                }
            }
        }
    }
}
