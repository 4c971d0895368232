import Foundation
import Testing
@testable import Spool

/// ZipExtractor on archives written byte by byte: good ones unpack exactly; each hostile one is
/// refused with its own code and nothing is written outside the destination.
@Suite struct ZipExtractorTests {
    final class Scratch {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("segvol-zip-\(UUID().uuidString.prefix(8))").path
        init() { try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: root) }
        var destination: String { root + "/job/unzipped" }

        /// Extracts `zip`; returns the refusal code (nil when it unpacked).
        func extract(_ zip: ZipFixture, limits: ZipLimits = ZipLimits()) -> String? {
            try? FileManager.default.createDirectory(atPath: root + "/job", withIntermediateDirectories: true)
            try? FileManager.default.removeItem(atPath: destination)
            zip.write(to: root + "/job/drop.zip")
            return code { try ZipExtractor.extract(zip: root + "/job/drop.zip", into: destination, limits: limits) }
        }

        func code(_ body: () throws -> Void) -> String? {
            do { try body(); return nil } catch let error as SpoolError { return error.code.rawValue } catch { return "other: \(error)" }
        }

        /// Everything under root except the archive and the destination.
        func strays() -> [String] {
            let all = (FileManager.default.subpaths(atPath: root) ?? []).sorted()
            return all.filter { $0 != "job" && $0 != "job/drop.zip" && !$0.hasPrefix("job/unzipped") }
        }
    }

    let series: [UInt8] = Array("DICM-ish payload ".utf8) + (0..<300).map { UInt8($0 % 251) }

    @Test func storedAndDeflatedEntriesUnpackIntoNestedFolders() throws {
        let s = Scratch()
        let zip = ZipFixture(entries: [
            .init(name: "export/", mode: 0o040755),
            .init(name: "export/series/IM0001", data: series),
            .init(name: "export/series/sub/IM0002", data: series.reversed(), method: 8),
            .init(name: "./export\\IM0003", data: [1, 2, 3], madeBy: 0x0014, mode: 0),  // DOS tool: backslash, no mode
        ])
        #expect(s.extract(zip) == nil)
        #expect(FileManager.default.contents(atPath: s.destination + "/export/series/IM0001") == Data(series))
        #expect(FileManager.default.contents(atPath: s.destination + "/export/series/sub/IM0002") == Data(series.reversed()))
        #expect(FileManager.default.contents(atPath: s.destination + "/export/IM0003") == Data([1, 2, 3]))
        #expect(s.strays().isEmpty)
    }

    @Test func hostileArchivesAreRefusedWithTheirOwnCodeBeforeWritingOutside() throws {
        let s = Scratch()
        let ok = ZipFixture.Entry(name: "IM1", data: series)
        let cases: [(String, ZipFixture, ZipLimits, String)] = [
            ("dot-dot", ZipFixture(entries: [ok, .init(name: "../../evil", data: [1])]), ZipLimits(), "zip_unsafe_path"),
            ("backslash dot-dot", ZipFixture(entries: [.init(name: "a\\..\\..\\evil", data: [1])]), ZipLimits(), "zip_unsafe_path"),
            ("absolute", ZipFixture(entries: [.init(name: "/tmp/segvol-evil", data: [1])]), ZipLimits(), "zip_unsafe_path"),
            ("drive letter", ZipFixture(entries: [.init(name: "C:/evil", data: [1])]), ZipLimits(), "zip_unsafe_path"),
            ("same name twice", ZipFixture(entries: [ok, ok]), ZipLimits(), "zip_unsafe_path"),
            ("file over folder", ZipFixture(entries: [ok, .init(name: "IM1/x", data: [1])]), ZipLimits(), "zip_unsafe_path"),
            ("symlink", ZipFixture(entries: [.init(name: "link", data: Array("/etc/passwd".utf8), mode: 0o120777)]), ZipLimits(), "zip_symlink"),
            ("fifo", ZipFixture(entries: [.init(name: "pipe", mode: 0o010644)]), ZipLimits(), "zip_symlink"),
            ("encrypted", ZipFixture(entries: [.init(name: "IM1", data: series, flags: 1)]), ZipLimits(), "zip_encrypted"),
            ("bzip2", ZipFixture(entries: [.init(name: "IM1", data: series, method: 12)]), ZipLimits(), "zip_unsupported"),
            ("zip64 marker", ZipFixture(entries: [ok], countOverride: 0xFFFF), ZipLimits(), "zip_unsupported"),
            ("too many entries", ZipFixture(entries: (1...3).map { .init(name: "IM\($0)", data: [1]) }), ZipLimits(maxEntries: 2), "zip_too_large"),
            ("too large in total", ZipFixture(entries: [ok, .init(name: "IM2", data: series)]), ZipLimits(maxTotalBytes: 500), "zip_too_large"),
            // Declares 64 MiB from 322 bytes: refused on the directory, nothing inflated.
            ("ratio bomb", ZipFixture(entries: [.init(name: "IM1", data: series, method: 8, declaredSize: 64 << 20)]), ZipLimits(), "zip_too_large"),
            ("bad crc", ZipFixture(entries: [.init(name: "IM1", data: series, crc: 1234)]), ZipLimits(), "zip_corrupt"),
            ("inflates past its size", ZipFixture(entries: [.init(name: "IM1", data: series, method: 8, declaredSize: 100)]), ZipLimits(), "zip_corrupt"),
            ("stored sizes differ", ZipFixture(entries: [.init(name: "IM1", data: series, declaredSize: 10)]), ZipLimits(), "zip_corrupt"),
            ("nested by name", ZipFixture(entries: [ok, .init(name: "inner.ZIP", data: [1])]), ZipLimits(), "zip_nested"),
            ("nested by content", ZipFixture(entries: [.init(name: "data.bin", data: ZipFixture(entries: [ok]).bytes())]), ZipLimits(), "zip_nested"),
            ("no files", ZipFixture(entries: [.init(name: "empty/", mode: 0o040755)]), ZipLimits(), "empty"),
        ]
        for (label, zip, limits, expected) in cases {
            #expect(s.extract(zip, limits: limits) == expected, "\(label)")
            #expect(s.strays().isEmpty, "\(label) wrote outside the destination: \(s.strays())")
            #expect(!FileManager.default.fileExists(atPath: "/tmp/segvol-evil"))
        }
        // Refused on the central directory: the destination is never even created.
        #expect(s.extract(cases[0].1) == "zip_unsafe_path")
        #expect(!FileManager.default.fileExists(atPath: s.destination))
    }

    @Test func truncatedOrForeignFilesAreCorrupt() throws {
        let s = Scratch()
        let good = ZipFixture(entries: [.init(name: "IM1", data: series), .init(name: "IM2", data: series)]).bytes()
        try? FileManager.default.createDirectory(atPath: s.root + "/job", withIntermediateDirectories: true)
        for (label, bytes) in [("cut in half", Array(good.prefix(good.count / 2))), ("cut before the end record", Array(good.dropLast(10))),
                               ("cut at the start", Array(good.dropFirst(40))), ("text", Array("not a zip at all, just text".utf8)), ("tiny", [0x50, 0x4b])] {
            FileManager.default.createFile(atPath: s.root + "/job/drop.zip", contents: Data(bytes))
            try? FileManager.default.removeItem(atPath: s.destination)
            let code = s.code { try ZipExtractor.extract(zip: s.root + "/job/drop.zip", into: s.destination, limits: ZipLimits()) }
            #expect(code == "zip_corrupt", "\(label)")
        }
    }

    @Test func zipNamesAreRecognisedInAnyCase() {
        #expect(ZipArchive.isZipName("Series.ZIP") && ZipArchive.isZipName("a.zip"))
        #expect(!ZipArchive.isZipName("a.zip.part") && !ZipArchive.isZipName("zip") && !ZipArchive.isZipName("a.nii.gz"))
    }
}
