import Foundation
import ImagingCore
import Testing
@testable import DICOMIO

/// A scratch folder removed when the value goes away.
final class ScratchDirectory {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("segvol-dicom-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

/// Runs a DCMTK command-line tool (used only to derive test inputs from corpus files).
func dcmtool(_ tool: String, _ args: [String]) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/\(tool)")
    p.arguments = args
    p.standardError = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
}

enum DCMTKTools {
    static var available: Bool {
        let ok = FileManager.default.isExecutableFile(atPath: "/usr/bin/dcmconv")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/dcmodify")
        if !ok { print("DICOMIOTests: dcmconv/dcmodify not installed; transfer-syntax variant tests skipped") }
        return ok
    }
}

@Suite(.enabled(if: Corpus.available, "shared corpus absent"))
struct FileHandlingTests {
    static let mr = "F06_mr_nonsquare_pixels_rescale"

    func reference() throws -> Scan {
        try #require(try DICOMReader.read(paths: [Corpus.dicom(Self.mr)]).scans.first)
    }

    @Test(.enabled(if: DCMTKTools.available),
          arguments: [(["+tb"], "big endian"), (["+ti"], "implicit"), (["+td"], "deflated"),
                      (["-F"], "no preamble, explicit VR"), (["+ti", "-F"], "no preamble, implicit VR")])
    func transferSyntaxVariantsDecodeIdentically(_ flags: [String], _ label: String) throws {
        let dir = try ScratchDirectory()
        for (n, source) in Corpus.files(Self.mr).enumerated() {
            try dcmtool("dcmconv", flags + [source, dir.file("x\(n)")])
        }
        let result = try DICOMReader.read(paths: [dir.path])
        let scan = try #require(result.scans.first, "\(label): \(result.series.map { "\($0.result)" })")
        let expected = try reference()
        #expect(scan.image.data == expected.image.data, "\(label)")
        #expect(scan.image.grid == expected.image.grid, "\(label)")
    }

    /// The enhanced multi-frame MR, recompressed losslessly by DCMTK's encoders: every frame of
    /// an encapsulated multi-frame object must decode to the uncompressed values.
    @Test(.enabled(if: DCMTKTools.available), arguments: ["dcmcrle", "dcmcjpls", "dcmcjpeg"])
    func compressedMultiframeDecodesIdentically(_ encoder: String) throws {
        let name = "F05_mr_siemens_enhanced_8frame"
        let dir = try ScratchDirectory()
        try dcmtool(encoder, [try #require(Corpus.files(name).first), dir.file("mf.dcm")])
        let ours = try #require(try DICOMReader.read(paths: [dir.path]).scans.first)
        let plain = try #require(try DICOMReader.read(paths: [Corpus.dicom(name)]).scans.first)
        #expect(ours.image.shape == [256, 256, 8])
        #expect(ours.image.data == plain.image.data, "\(encoder)")
    }

    @Test func unsupportedTransferSyntaxIsNamed() throws {
        let dir = try ScratchDirectory()
        // JPEG 2000 Part 2 multi-component (…4.92), a syntax segvol does not decode: patch the
        // meta header's UID of the JPEG 2000 files in place (same length, 22 characters).
        for (n, source) in Corpus.files("F02_mr_sag_4slice_j2k").enumerated() {
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
            let from = Array("1.2.840.10008.1.2.4.90".utf8), to = Array("1.2.840.10008.1.2.4.92".utf8)
            let at = try #require((0..<400).first { Array(bytes[$0..<$0 + from.count]) == from })
            bytes.replaceSubrange(at..<at + to.count, with: to)
            try Data(bytes).write(to: URL(fileURLWithPath: dir.file("im\(n)")))
        }
        let result = try DICOMReader.read(paths: [dir.path])
        let outcome = try #require(result.series.first)
        guard case .failure(let error) = outcome.result else { Issue.record("expected a refusal"); return }
        #expect(error.code == .unsupportedTransferSyntax)
        #expect(error.reason.contains("1.2.840.10008.1.2.4.92"))
    }

    @Test func nonDICOMFilesAreSkippedWithANote() throws {
        let dir = try ScratchDirectory()
        for (n, source) in Corpus.files(Self.mr).enumerated() {
            try FileManager.default.copyItem(atPath: source, toPath: dir.file("slice\(n).weird-name"))
        }
        try "not dicom at all".write(toFile: dir.file("notes.txt"), atomically: true, encoding: .utf8)
        try Data(repeating: 0, count: 300).write(to: URL(fileURLWithPath: dir.file("zeros.dcm")))
        let result = try DICOMReader.read(paths: [dir.path])
        #expect(result.scans.count == 1)
        #expect(Set(result.skipped.map(\.code)) == [.notDICOM])
        #expect(result.skipped.count == 2)
    }

    @Test func onlyNonDICOMThrowsNoDICOM() throws {
        let dir = try ScratchDirectory()
        try "hello".write(toFile: dir.file("a.dcm"), atomically: true, encoding: .utf8)
        #expect(throws: ImagingError.self) { try DICOMReader.read(paths: [dir.path]) }
        do { _ = try DICOMReader.read(paths: [dir.path]) } catch { #expect(error.code == .noDICOM) }
    }

    @Test(.enabled(if: DCMTKTools.available))
    func nonImageObjectsAreSkipped() throws {
        let dir = try ScratchDirectory()
        let files = Corpus.files(Self.mr)
        for (n, source) in files.enumerated() { try FileManager.default.copyItem(atPath: source, toPath: dir.file("im\(n)")) }
        try FileManager.default.copyItem(atPath: files[0], toPath: dir.file("seg"))
        try dcmtool("dcmodify", ["-nb", "-m", "(0008,0016)=1.2.840.10008.5.1.4.1.1.66.4", dir.file("seg")])
        try FileManager.default.copyItem(atPath: files[0], toPath: dir.file("nopixels"))
        try dcmtool("dcmodify", ["-nb", "-ea", "(7fe0,0010)", dir.file("nopixels")])
        let result = try DICOMReader.read(paths: [dir.path])
        #expect(result.scans.count == 1)
        #expect(result.skipped.map(\.code) == [.nonImage, .nonImage])
        #expect(result.skipped.contains { $0.reason.contains("segmentation") })
    }

    /// A slope of "1e400" is not a finite number: the file is refused with bad_rescale instead of
    /// being read as if the slope were absent (1). A slope of 0 is read as 1 (dcm2niix too).
    @Test(.enabled(if: DCMTKTools.available))
    func nonFiniteRescaleIsRefused() throws {
        let dir = try ScratchDirectory()
        let files = Corpus.files(Self.mr)
        for (n, source) in files.enumerated() { try FileManager.default.copyItem(atPath: source, toPath: dir.file("im\(n)")) }
        try dcmtool("dcmodify", ["-nb", "-m", "(0028,1053)=1e400", dir.file("im1")])
        // The file is skipped with the reason; the other slices no longer form a complete volume.
        let bad = try DICOMReader.read(paths: [dir.path])
        #expect(bad.scans.isEmpty)
        #expect(bad.skipped.map(\.code) == [.badRescale])
        #expect(bad.skipped.first?.path.hasSuffix("im1") == true)
        #expect(bad.skipped.first?.reason.contains("RescaleSlope \"1e400\"") == true)

        try dcmtool("dcmodify", ["-nb", "-m", "(0028,1053)=0", dir.file("im1")])
        let zero = try DICOMReader.read(paths: [dir.path])
        let expected = try reference()
        #expect(zero.scans.first?.image.grid == expected.image.grid)
    }

    @Test func limitsAreEnforcedBeforeAllocation() throws {
        // F06 slices are 64×28 = 1792 voxels and about 5 kB each: both limits refuse all four files.
        for options in [DICOMReadOptions(maxVoxels: 1000), DICOMReadOptions(maxFileBytes: 1000)] {
            do {
                _ = try DICOMReader.read(paths: Corpus.files(Self.mr), options: options)
                Issue.record("expected no_dicom")
            } catch {
                #expect(error.code == .noDICOM)
                #expect(error.reason.contains("too_large ×4"), "\(error.reason)")
            }
        }
        var options = DICOMReadOptions()
        options = DICOMReadOptions(maxFiles: 2)
        do {
            _ = try DICOMReader.read(paths: [Corpus.dicom(Self.mr)], options: options)
            Issue.record("expected too_many_files")
        } catch { #expect(error.code == .tooManyFiles) }
    }

    /// A real file cut at many offsets fails cleanly with a reason (never a crash, never a scan),
    /// and does not stop a good series read in the same call from converting.
    @Test(arguments: ["F06_mr_nonsquare_pixels_rescale", "F02_mr_sag_4slice_j2k", "F02_mr_sag_4slice_rle",
                      "F02_mr_sag_4slice_jpeg", "F02_mr_sag_4slice_jpegls", "F05_mr_siemens_enhanced_8frame"])
    func truncatedFilesFailCleanly(_ name: String) throws {
        let source = try #require(Corpus.files(name).first)
        let good = name == Self.mr ? "F04_mr_ge_sag_oblique_4slice" : Self.mr
        let bytes = try Data(contentsOf: URL(fileURLWithPath: source))
        let cuts = [0, 10, 100, 131, 132, 200, 700, bytes.count / 3, bytes.count / 2, bytes.count - 100, bytes.count - 2]
        for cut in cuts where cut < bytes.count {
            let dir = try ScratchDirectory()
            try bytes.prefix(cut).write(to: URL(fileURLWithPath: dir.file("cut")))
            var options = DICOMReadOptions()
            options.allowSingleSlice = true
            let result = try DICOMReader.read(paths: [dir.path, Corpus.dicom(good)], options: options)
            #expect(result.scans.count == 1, "\(name) cut at \(cut): the good series still converts")
            let skippedCut = result.skipped.first { $0.path.hasSuffix("/cut") }
            let failed = result.series.compactMap { outcome -> ImagingError? in
                if case .failure(let e) = outcome.result { return e } else { return nil }
            }
            #expect(skippedCut != nil || failed.count == 1, "\(name) cut at \(cut) of \(bytes.count) was not refused")
            if let skippedCut {
                #expect(!skippedCut.reason.isEmpty)
                // Past the preamble and magic the file is recognised as DICOM and refused as cut short.
                let expected: Set<ImagingError.Code> = cut >= 132 ? [.truncated, .unreadable] : [.notDICOM, .unreadable]
                #expect(expected.contains(skippedCut.code), "\(name) cut at \(cut): \(skippedCut.code) \(skippedCut.reason)")
            }
        }
    }
}
