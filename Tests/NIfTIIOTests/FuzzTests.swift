import Foundation
import ImagingCore
import Testing
@testable import NIfTIIO

/// Seeded mutation fuzzing of the pre-check: any header bytes give either a volume or an
/// ImagingError, never a trap or another error type.
@Suite struct FuzzTests {
    /// SplitMix64: deterministic across platforms and runs.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test(arguments: [1, 2])
    func mutatedHeadersNeverTrap(_ version: Int) throws {
        let dir = TempDir()
        var h = TestNIfTI()
        h.version = version
        h.sformCode = 1
        h.qformCode = 1
        h.extensions = NIfTIWriter.extensionBytes(code: 0, content: Array(LabelTableXML.encode(
            LabelTable(entries: [LabelEntry(id: 1, name: "a"), LabelEntry(id: 2, name: "b")])).utf8))
        let original = h.file(data: encode((0..<24).map { Double($0 % 3) }, dt: 16))
        var rng = SplitMix(state: UInt64(version))
        var outcomes: [String: Int] = [:]
        for i in 0..<600 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let at = Int.random(in: 0..<(h.headerSize + 64), using: &rng)
                bytes[at] = UInt8.random(in: 0...255, using: &rng)
            }
            if i % 7 == 0 { bytes.removeLast(Int.random(in: 0..<bytes.count, using: &rng)) }
            let path = dir.file(i % 2 == 0 ? "f.nii" : "f.nii.gz")
            try Data(i % 2 == 0 ? bytes : try gzipCompress(bytes)).write(to: URL(fileURLWithPath: path))
            do {
                _ = try NIfTIReader.readLabels(path: path, options: .init(maxDataBytes: 1 << 20, maxDecompressedBytes: 1 << 21))
                outcomes["ok", default: 0] += 1
            } catch let error as ImagingError {
                outcomes[error.code.rawValue, default: 0] += 1
            }
        }
        // Both outcomes occur: the mutations are neither all harmless nor all fatal.
        #expect(outcomes["ok", default: 0] > 10)
        #expect(outcomes.count > 4, "\(outcomes)")
    }

    @Test func truncatedXMLNeverTraps() {
        let xml = Array(LabelTableXML.encode(LabelTable(entries: (1...5).map { LabelEntry(id: $0, name: "label \($0) &amp;") })).utf8)
        for cut in 0...xml.count {
            if let table = LabelTableXML.decode(Array(xml.prefix(cut))) {
                #expect(table.entries.count <= 5)
            }
        }
        #expect(LabelTableXML.decode(xml)?.entries.map(\.name).last == "label 5 &amp;")
    }
}
