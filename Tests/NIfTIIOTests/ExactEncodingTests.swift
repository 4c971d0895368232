import Foundation
import ImagingCore
import Testing
@testable import NIfTIIO

/// The default image encoding is lossless and as narrow as the values allow.
@Suite struct ExactEncodingTests {
    let dir = TempDir()

    static let cases: [(values: [Float], datatype: Int)] = [
        ([0, 1, 255, 17], 2),                    // uint8
        ([-1024, 0, 3071, -1], 4),               // int16 (CT HU)
        ([0, 40000, 65535, 12], 512),            // uint16 (MR above 32767)
        ([-70000, 5, 100_000, 0], 8),            // int32
        ([0, 0.5, 1, 2], 16),                    // float32: not integral
        ([0, .nan, 1, 2], 16),                   // float32: NaN kept
        ([-40000, 65535, 0, 1], 8),              // int32: spans both 16-bit ranges
    ]

    @Test(arguments: 0..<cases.count)
    func narrowestTypeRoundTripsExactly(_ index: Int) throws {
        let (values, datatype) = Self.cases[index]
        let grid = Grid(shape: [2, 2, 1], affine: .scaling(SIMD3(0.5, 0.5, 3)))
        let path = dir.file("v\(index).nii.gz")
        try NIfTIWriter.writeImage(ImageVolume(grid: grid, data: values), to: path)
        #expect(try NIfTIReader.readHeader(path: path).datatype == datatype)
        let back = try NIfTIReader.readImage(path: path).image.data
        #expect(zip(back, values).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) })
    }

    /// Above 4 MiB the payload is compressed as several gzip members in parallel; gzip(1) and
    /// our reader must both see one stream with every byte.
    @Test func largeImagesBecomeMultiMemberGzipThatGzipReads() throws {
        let n = 160 * 160 * 90  // int16: 4.6 MB of payload, so two members
        let grid = Grid(shape: [160, 160, 90], affine: .scaling(SIMD3(1, 1, 1)))
        let data = (0..<n).map { Float(($0 &* 7919) % 3000 - 1000) }
        let path = dir.file("big.nii.gz")
        try NIfTIWriter.writeImage(ImageVolume(grid: grid, data: data), to: path)

        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let memberStarts = (0..<(bytes.count - 3)).filter { bytes[$0] == 0x1f && bytes[$0 + 1] == 0x8b && bytes[$0 + 2] == 8 }
        #expect(memberStarts.count >= 2)
        #expect(try NIfTIReader.readImage(path: path).image.data == data)

        let gunzip = Process()
        gunzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gunzip.arguments = ["-dc", path]
        let pipe = Pipe()
        gunzip.standardOutput = pipe
        try gunzip.run()
        let plain = pipe.fileHandleForReading.readDataToEndOfFile()
        gunzip.waitUntilExit()
        #expect(gunzip.terminationStatus == 0)
        #expect(plain.count == 352 + n * 2)
    }
}
