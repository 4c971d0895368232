import Foundation
import ImagingCore
import Testing
@testable import NIfTIIO

/// libdeflate's whole-buffer path against the zlib streaming reference: same bytes on good
/// files, same refusal (code and reason) on hostile ones.
@Suite struct GzipTwinTests {
    let dir = TempDir()

    enum Outcome: Equatable {
        case bytes([UInt8])
        case refused(ImagingError.Code, String)

        var summary: String {
            switch self {
            case .bytes(let b): "\(b.count) bytes"
            case .refused(let code, let reason): "\(code): \(reason)"
            }
        }
    }

    static func outcome(_ path: String, _ options: NIfTIReadOptions = .init(), _ decoder: GzipDecoder) -> Outcome {
        do { return .bytes(try FileLoader.load(path: path, options: options, headerOnly: false, decoder: decoder).bytes) }
        catch let e as ImagingError { return .refused(e.code, e.reason) }
        catch { return .refused(.unreadable, "\(error)") }
    }

    /// Both decoders agree on `path`; returns the common outcome.
    @discardableResult
    func twin(_ path: String, _ options: NIfTIReadOptions = .init(), sourceLocation: SourceLocation = #_sourceLocation) -> Outcome {
        let fast = Self.outcome(path, options, .libdeflate)
        let reference = Self.outcome(path, options, .zlib)
        let same = fast == reference  // compared outside #expect, which would print megabytes
        #expect(same, "\(path): libdeflate \(fast.summary), zlib \(reference.summary)", sourceLocation: sourceLocation)
        return reference
    }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = dir.file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// 512×512×10 float32 (10 MiB) written by segvol: 3 independent members, decoded on 2 threads.
    func segvolFile() throws -> (path: String, data: [Float]) {
        let grid = Grid(shape: [512, 512, 10], affine: .scaling(SIMD3(0.8, 0.8, 5)))
        let count = 512 * 512 * 10
        let data: [Float] = (0..<count).map { (i: Int) -> Float in Float((i &* 2_654_435_761) % 997) * 0.5 }
        let path = dir.file("segvol.nii.gz")
        try NIfTIWriter.writeImage(ImageVolume(grid: grid, data: data), to: path)
        return (path, data)
    }

    @Test func segvolMultiMemberFileDecodesInParallelToZlibBytes() throws {
        let (path, data) = try segvolFile()
        let compressed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let expected = 352 + data.count * 4
        let plan = try #require(compressed.withUnsafeBytes { GzipWhole.memberPlan($0, expected: expected) })
        #expect(plan.count == 3)
        #expect(plan.map(\.output.count) == [4 << 20, 4 << 20, expected - (8 << 20)])
        let parallel = try #require(GzipWhole.decode(compressed, expected: expected))
        let sequential = try #require(GzipWhole.decode(compressed, expected: expected, parallel: false))
        let same = parallel == sequential
        #expect(same)
        let viaLoader = twin(path) == .bytes(parallel)
        #expect(viaLoader)
        #expect(try NIfTIReader.readImage(path: path).image.data == data)
        // One byte more or less than the stream holds: the fast path declines.
        #expect(GzipWhole.decode(compressed, expected: expected - 1) == nil)
        #expect(GzipWhole.decode(compressed, expected: expected + 1) == nil)
    }

    @Test func hostileMultiMemberStreamsGiveZlibCodes() throws {
        let (path, _) = try segvolFile()
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let plan = try #require(good.withUnsafeBytes { GzipWhole.memberPlan($0, expected: 352 + 512 * 512 * 10 * 4) })
        var badFirstCRC = good
        badFirstCRC[plan[1].input.lowerBound - 8] ^= 0x01
        var garbledMiddle = good
        for i in plan[1].input.lowerBound + 100..<plan[1].input.lowerBound + 140 { garbledMiddle[i] = 0xFF }
        let cases: [(String, [UInt8], ImagingError.Code)] = [
            ("firstcrc", badFirstCRC, .niftiCorruptGzip),
            ("garbled", garbledMiddle, .niftiCorruptGzip),
            ("cutmember", Array(good.prefix(plan[1].input.lowerBound + 1000)), .niftiCorruptGzip),
            ("twomembers", Array(good.prefix(plan[2].input.lowerBound)), .truncated),
            ("garbage", good + [0x42, 0x43, 0x44], .niftiCorruptGzip),
            // FHCRC with a wrong header CRC on the second member: libdeflate skips it, zlib refuses.
            ("fhcrc", Array(good[..<plan[1].input.lowerBound]) + Self.withBadHeaderCRC(Array(good[plan[1].input.lowerBound...])),
             .niftiCorruptGzip),
        ]
        for (name, bytes, code) in cases {
            let outcome = twin(try write("\(name).nii.gz", bytes))
            guard case .refused(let got, _) = outcome else { Issue.record("\(name) was read"); continue }
            #expect(got == code, "\(name)")
        }
        // Zero padding after the last member is ignored by both.
        guard case .bytes = twin(try write("padded.nii.gz", good + [UInt8](repeating: 0, count: 512))) else {
            Issue.record("padded file refused"); return
        }
    }

    /// Sets FHCRC on the stream's first member and inserts a header CRC16 of 0 (wrong for any real header).
    static func withBadHeaderCRC(_ gz: [UInt8]) -> [UInt8] {
        var out = Array(gz.prefix(10))
        out[3] |= 0x02
        return out + [0, 0] + gz.dropFirst(10)
    }

    @Test func hostileSmallStreamsGiveZlibCodes() throws {
        let zeros = [UInt8](repeating: 0, count: 96)
        let good = try gzipCompress(TestNIfTI().file(data: encode((0..<24).map(Double.init), dt: 16)))
        var badCRC = good
        badCRC[good.count - 8] ^= 0x01
        var badISIZE = good
        badISIZE[good.count - 1] ^= 0x01
        let bomb = try gzipCompress(TestNIfTI().file(data: zeros) + [UInt8](repeating: 0, count: 8 << 20), level: 9)
        var claim = TestNIfTI()
        claim.dim = [3, 1024, 1024, 256, 1, 1, 1, 1]
        let claims = try gzipCompress(claim.file(data: zeros))
        #expect(!GzipWhole.worthTrying(compressedBytes: claims.count, expected: 352 + (1 << 30)))
        let cases: [(String, [UInt8], NIfTIReadOptions, ImagingError.Code?)] = [
            ("good", good, .init(), nil),
            ("crc", badCRC, .init(), .niftiCorruptGzip),
            ("isize", badISIZE, .init(), .niftiCorruptGzip),
            ("cut", Array(good.dropLast(3)), .init(), .niftiCorruptGzip),
            ("garbage", good + [0x1F, 0x8B, 0x08, 0x00, 0x01], .init(), .niftiCorruptGzip),
            ("fhcrc", Self.withBadHeaderCRC(good), .init(), .niftiCorruptGzip),
            ("second", good + good, .init(), nil),  // a second member beyond the voxels: inflated, ignored
            ("bomb", bomb, .init(maxDecompressedBytes: 1 << 20), .niftiGzipTooLarge),
            ("bombfits", bomb, .init(maxDecompressedBytes: 16 << 20), nil),
            ("claims", claims, .init(), .truncated),
        ]
        for (name, bytes, options, code) in cases {
            let outcome = twin(try write("\(name).nii.gz", bytes), options)
            switch (outcome, code) {
            case (.bytes(let b), nil): #expect(b.count == 352 + 96, "\(name)")
            case (.refused(let got, _), let want?): #expect(got == want, "\(name)")
            default: Issue.record("\(name): \(outcome)")
            }
        }
    }

    /// Stored (level 0) members hold the voxels verbatim, so a fake member header inside the data
    /// becomes a false boundary candidate; the result must still be exact.
    @Test func fakeMemberMagicInStoredDataStaysExact() throws {
        var payload = [UInt8](repeating: 7, count: 9 << 20)
        for at in stride(from: 1000, to: payload.count - 16, by: 1 << 20) {
            payload.replaceSubrange(at..<(at + 12), with: [0, 0, 0x40, 0, 0x1F, 0x8B, 8, 0, 0, 0, 0, 0])
        }
        var h = TestNIfTI()
        h.datatype = 2
        h.dim = [3, 1024, 1024, 9, 1, 1, 1, 1]
        let file = h.file(data: payload)
        let compressed = try gzipCompress(file, level: 0)
        let fast = try #require(GzipWhole.decode(compressed, expected: file.count))
        let exact = fast == file
        #expect(exact)
        let viaLoader = twin(try write("stored.nii.gz", compressed)) == .bytes(file)
        #expect(viaLoader)
    }
}

/// Every `.nii.gz` of the corpus (dcm2niix, nibabel, TotalSegmentator: single-member zlib output).
@Suite(.enabled(if: Corpus.available, "needs ../shared/corpus"))
struct GzipCorpusTwinTests {
    @Test func corpusFilesDecodeIdentically() throws {
        let files = FileManager.default.enumerator(atPath: Corpus.root)!.compactMap { $0 as? String }.filter { $0.hasSuffix(".nii.gz") }
        #expect(files.count >= 20)
        var viaLibdeflate = 0
        for file in files {
            let path = Corpus.root + "/" + file
            let fast = GzipTwinTests.outcome(path, .init(), .libdeflate)
            let reference = GzipTwinTests.outcome(path, .init(), .zlib)
            let same = fast == reference
            #expect(same, "\(file): libdeflate \(fast.summary), zlib \(reference.summary)")
            // The fast path itself (not its zlib fallback) produced those bytes.
            if case .bytes(let bytes) = fast,
               GzipWhole.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), expected: bytes.count) == bytes {
                viaLibdeflate += 1
            }
        }
        #expect(viaLibdeflate >= 20)
    }
}
