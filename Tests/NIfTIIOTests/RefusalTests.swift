import Foundation
import ImagingCore
import Testing
@testable import NIfTIIO

/// Each refusal of the bounded pre-check, on a hand-made hostile file.
@Suite struct RefusalTests {
    let dir = TempDir()
    /// 2×3×4 float32 of zeros: 96 bytes.
    let zeros = [UInt8](repeating: 0, count: 96)

    @Test func validBaselineReads() throws {
        let path = try TestNIfTI().write(dir.file("ok.nii"), data: zeros)
        let scan = try NIfTIReader.readImage(path: path)
        #expect(scan.image.shape == [2, 3, 4])
    }

    @Test(arguments: [0, 347, 349, 541, 1_000_000, -348])
    func badSizeofHdr(_ size: Int) throws {
        var h = TestNIfTI()
        h.sizeofHdr = size
        let path = try h.write(dir.file("bad\(size).nii"), data: zeros)
        expectRefusal(.niftiBadHeaderSize) { _ = try NIfTIReader.readImage(path: path) }
        expectRefusal(.niftiBadHeaderSize) { _ = try NIfTIReader.readHeader(path: path) }
    }

    @Test func badMagicAndTwoFilePair() throws {
        var h = TestNIfTI()
        h.magic = [0x6E, 0x69, 0x31, 0]  // "ni1": .hdr/.img pair
        let pair = try h.write(dir.file("pair.nii"), data: zeros)
        let e = expectRefusal(.niftiBadMagic) { _ = try NIfTIReader.readImage(path: pair) }
        #expect(e?.reason.contains("two-file") == true)
        h.magic = [0, 0, 0, 0]
        let analyze = try h.write(dir.file("analyze.nii"), data: zeros)
        expectRefusal(.niftiBadMagic) { _ = try NIfTIReader.readImage(path: analyze) }
    }

    @Test(arguments: [Int64(0), 8, -1, 32767])
    func dimCountOutOfRange(_ n: Int64) throws {
        var h = TestNIfTI()
        h.dim[0] = n
        let path = try h.write(dir.file("dim0.nii"), data: zeros)
        expectRefusal(.niftiBadDimCount) { _ = try NIfTIReader.readImage(path: path) }
    }

    @Test(arguments: [Int64(0), -5])
    func zeroOrNegativeDim(_ d: Int64) throws {
        var h = TestNIfTI()
        h.dim[2] = d
        let path = try h.write(dir.file("dim.nii"), data: zeros)
        expectRefusal(.niftiBadDim) { _ = try NIfTIReader.readImage(path: path) }
    }

    @Test func hugeDimsRefusedBeforeAllocation() throws {
        var h = TestNIfTI()
        h.dim = [3, 32767, 32767, 32767, 1, 1, 1, 1]  // 1.4e14 bytes of float32
        let path = try h.write(dir.file("huge.nii"), data: zeros)
        expectRefusal(.tooLarge) { _ = try NIfTIReader.readImage(path: path) }
        // NIfTI-2 dims whose product overflows Int64 must not wrap around.
        var h2 = TestNIfTI()
        h2.version = 2
        h2.dim = [4, Int64.max / 2, 4, 4, 4, 1, 1, 1]
        let p2 = try h2.write(dir.file("wrap.nii"), data: zeros)
        expectRefusal(.tooLarge) { _ = try NIfTIReader.readImage(path: p2) }
        // A configurable cap: 96 bytes of data against a 64-byte limit.
        let small = try TestNIfTI().write(dir.file("small.nii"), data: zeros)
        expectRefusal(.tooLarge) { _ = try NIfTIReader.readImage(path: small, options: .init(maxDataBytes: 64)) }
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity, -352, 100, 352.5])
    func badVoxOffset(_ vo: Double) throws {
        var h = TestNIfTI()
        h.voxOffset = vo
        let path = try h.write(dir.file("vo.nii"), data: zeros)
        expectRefusal(.niftiBadVoxOffset) { _ = try NIfTIReader.readImage(path: path) }
    }

    @Test func voxOffsetPastEndOfFile() throws {
        var h = TestNIfTI()
        h.voxOffset = 1_000_000
        let bytes = h.header() + zeros  // no padding: the offset points past the end
        let path = dir.file("past.nii")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        expectRefusal(.niftiBadVoxOffset) { _ = try NIfTIReader.readImage(path: path) }
        let gz = dir.file("past.nii.gz")
        try Data(try gzipCompress(bytes)).write(to: URL(fileURLWithPath: gz))
        expectRefusal(.niftiBadVoxOffset) { _ = try NIfTIReader.readImage(path: gz) }
    }

    @Test(arguments: [0, 1, 32, 128, 1536, 1024, 2304, 9999])
    func unknownDatatype(_ dt: Int) throws {
        var h = TestNIfTI()
        h.datatype = dt
        let path = try h.write(dir.file("dt.nii"), data: zeros)
        expectRefusal(.niftiUnsupportedDatatype) { _ = try NIfTIReader.readImage(path: path) }
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity])
    func nonFiniteSlope(_ slope: Double) throws {
        var h = TestNIfTI()
        h.slope = slope
        let path = try h.write(dir.file("slope.nii"), data: zeros)
        expectRefusal(.niftiBadScaling) { _ = try NIfTIReader.readImage(path: path) }
        h.slope = 2
        h.inter = slope
        let p2 = try h.write(dir.file("inter.nii"), data: zeros)
        expectRefusal(.niftiBadScaling) { _ = try NIfTIReader.readImage(path: p2) }
    }

    @Test func truncatedData() throws {
        let bytes = Array(TestNIfTI().file(data: zeros).dropLast(1))
        let path = dir.file("short.nii")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let e = expectRefusal(.truncated) { _ = try NIfTIReader.readImage(path: path) }
        #expect(e?.reason.contains("447") == true)  // 352 + 96 - 1 bytes present
        // A complete gzip stream whose content is short is "truncated", not corrupt gzip.
        let gz = dir.file("short.nii.gz")
        try Data(try gzipCompress(bytes)).write(to: URL(fileURLWithPath: gz))
        expectRefusal(.truncated) { _ = try NIfTIReader.readImage(path: gz) }
        // A file that ends inside the header.
        let head = dir.file("head.nii")
        try Data(Array(bytes.prefix(200))).write(to: URL(fileURLWithPath: head))
        expectRefusal(.truncated) { _ = try NIfTIReader.readImage(path: head) }
    }

    @Test func gzipBombStopsAtCap() throws {
        // A valid 96-byte volume followed by 8 MiB of zeros inside the gzip stream.
        let bytes = TestNIfTI().file(data: zeros) + [UInt8](repeating: 0, count: 8 << 20)
        let path = dir.file("bomb.nii.gz")
        let compressed = try gzipCompress(bytes, level: 9)
        #expect(compressed.count < 20_000)
        try Data(compressed).write(to: URL(fileURLWithPath: path))
        let e = expectRefusal(.niftiGzipTooLarge) {
            _ = try NIfTIReader.readImage(path: path, options: .init(maxDecompressedBytes: 1 << 20))
        }
        #expect(e?.reason.contains("1048576") == true)
        // Under a cap that fits, the trailing bytes are inflated (CRC checked) and ignored.
        let scan = try NIfTIReader.readImage(path: path, options: .init(maxDecompressedBytes: 16 << 20))
        #expect(scan.image.data.count == 24)
    }

    @Test func corruptGzip() throws {
        let good = try gzipCompress(TestNIfTI().file(data: encode((0..<24).map(Double.init), dt: 16)))
        // Bad CRC: flip a bit of the CRC32 in the 8-byte trailer.
        var badCRC = good
        badCRC[good.count - 8] ^= 0x01
        // Truncated trailer.
        let cut = Array(good.dropLast(3))
        // Corrupt deflate data in the middle.
        var garbled = good
        for i in 20..<40 { garbled[i] = 0xFF }
        // Not gzip at all, but named .gz.
        let notGzip = TestNIfTI().file(data: zeros)
        for (name, bytes) in [("crc", badCRC), ("cut", cut), ("garbled", garbled), ("plain", notGzip), ("empty", [0x1F, 0x8B])] {
            let path = dir.file("\(name).nii.gz")
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            expectRefusal(.niftiCorruptGzip) { _ = try NIfTIReader.readImage(path: path) }
        }
        let ok = dir.file("good.nii.gz")
        try Data(good).write(to: URL(fileURLWithPath: ok))
        #expect(try NIfTIReader.readImage(path: ok).image.data[23] == 23)
    }

    @Test func volumeIndexOutOfRange() throws {
        var h = TestNIfTI()
        h.dim = [4, 2, 3, 4, 3, 1, 1, 1]
        let path = try h.write(dir.file("4d.nii"), data: zeros + zeros + zeros)
        expectRefusal(.niftiVolumeOutOfRange) { _ = try NIfTIReader.readImage(path: path, options: .init(volumeIndex: 3)) }
        expectRefusal(.niftiVolumeOutOfRange) { _ = try NIfTIReader.readImage(path: path, options: .init(volumeIndex: -1)) }
    }

    @Test func nonIntegralLabelsRefused() throws {
        var values = [Double](repeating: 1, count: 24)
        values[5] = 2.5
        let path = try TestNIfTI().write(dir.file("prob.nii"), data: encode(values, dt: 16))
        let e = expectRefusal(.niftiNonIntegralLabel) { _ = try NIfTIReader.readLabels(path: path) }
        #expect(e?.reason.contains("voxel 5") == true)
        // Integral after scaling is fine; non-integral after scaling is not.
        var h = TestNIfTI()
        h.datatype = 2
        h.slope = 0.5
        let scaled = try h.write(dir.file("scaled.nii"), data: encode([Double](repeating: 3, count: 24), dt: 2))
        expectRefusal(.niftiNonIntegralLabel) { _ = try NIfTIReader.readLabels(path: scaled) }
        // NaN in a float label map.
        values[5] = .nan
        let nan = try TestNIfTI().write(dir.file("nan.nii"), data: encode(values, dt: 16))
        expectRefusal(.niftiNonIntegralLabel) { _ = try NIfTIReader.readLabels(path: nan) }
    }

    @Test func missingDirectoryAndFifo() throws {
        expectRefusal(.notFound) { _ = try NIfTIReader.readImage(path: dir.file("absent.nii")) }
        expectRefusal(.unreadable) { _ = try NIfTIReader.readImage(path: dir.path) }
        let fifo = dir.file("fifo.nii")
        #expect(mkfifo(fifo, 0o600) == 0)
        expectRefusal(.unreadable) { _ = try NIfTIReader.readImage(path: fifo) }
    }

    @Test func singularGeometryRefused() throws {
        var h = TestNIfTI()
        h.sformCode = 1
        h.srow = [[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0]]
        let path = try h.write(dir.file("singular.nii"), data: zeros)
        expectRefusal(.badGeometry) { _ = try NIfTIReader.readImage(path: path) }
    }
}

extension RefusalTests {
    /// A tiny gzip whose header claims 1 GiB of voxels: refused as truncated, and the buffer
    /// the inflater fills grows with the bytes that really arrive, not with the header's claim.
    @Test func smallGzipClaimingHugeDataIsTruncatedCheaply() throws {
        var h = TestNIfTI()
        h.dim = [3, 1024, 1024, 256, 1, 1, 1, 1]
        let path = try h.write(dir.file("claims.nii.gz"), data: zeros)
        expectRefusal(.truncated) { _ = try NIfTIReader.readImage(path: path) }
        let file = try ReadableFile(path: path)
        let gz = try GzipInflater(file: file, input: path, cap: 1 << 31)
        var bytes: [UInt8] = []
        try gz.fill(&bytes, to: 1 << 30)
        #expect(bytes.count == 352 + 96)
        #expect(bytes.capacity < 4 << 20, "capacity \(bytes.capacity)")
    }
}
