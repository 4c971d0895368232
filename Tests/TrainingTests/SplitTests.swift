import Foundation
import Testing
@testable import Training

@Suite struct SplitTests {
    /// 10 subjects in each of two datasets, two visits each.
    let cases: [(subject: String, dataset: String)] = (0..<10).flatMap { i in
        ["a", "b"].flatMap { d in [(subject: "\(d)-\(i)", dataset: d), (subject: "\(d)-\(i)", dataset: d)] }
    }

    @Test func firstSplitIsPerDatasetAndSubjectLevel() {
        var split = DataSplit(validationFraction: 0.2)
        let added = split.assign(cases)
        #expect(added)
        for d in ["a", "b"] {
            let validating = (0..<10).filter { split.side(of: "\(d)-\($0)") == .validation }
            #expect(validating.count == 2)  // ceil(0.2 × 10) per dataset
        }
        #expect(split.subjects.count == 20)  // one entry per subject: both visits share a side
        // The lowest SHA-256 positions validate.
        let ordered = (0..<10).map { "a-\($0)" }.sorted { DataSplit.position($0) < DataSplit.position($1) }
        #expect(split.side(of: ordered[0]) == .validation && split.side(of: ordered[1]) == .validation)
        #expect(split.side(of: ordered[2]) == .train)
    }

    @Test func orderOfCasesDoesNotMatter() {
        var a = DataSplit(validationFraction: 0.3), b = DataSplit(validationFraction: 0.3)
        a.assign(cases)
        b.assign(cases.reversed())
        #expect(a == b)
    }

    @Test func frozenOnDiskAndNewSubjectsGoByHash() throws {
        let dir = Fixtures.temporaryDirectory("split")
        defer { Fixtures.remove(dir) }
        let path = dir + "/split.json"
        let first = try DataSplit.loadOrCreate(path: path, cases: cases, validationFraction: 0.2)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        // Another run with a different fraction and order reads the file: nothing moves, nothing is rewritten.
        let again = try DataSplit.loadOrCreate(path: path, cases: cases.shuffled(), validationFraction: 0.9)
        #expect(again == first)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes)
        // New subjects: assigned by their own hash; old ones keep their side.
        let newcomers = (0..<200).map { (subject: "new-\($0)", dataset: "a") }
        let grown = try DataSplit.loadOrCreate(path: path, cases: cases + newcomers, validationFraction: 0.5)
        for (s, side) in first.subjects { #expect(grown.side(of: s) == side) }
        for n in newcomers { #expect(grown.side(of: n.subject) == (DataSplit.position(n.subject) < 0.2 ? .validation : .train)) }
        let share = Double(newcomers.filter { grown.side(of: $0.subject) == .validation }.count) / 200
        #expect(share > 0.1 && share < 0.3)
        #expect(try DataSplit.read(path: path) == grown)
    }

    @Test func singleSubjectDatasetTrains() {
        var split = DataSplit(validationFraction: 0.5)
        split.assign([(subject: "only", dataset: "x"), (subject: "p", dataset: "y"), (subject: "q", dataset: "y")])
        #expect(split.side(of: "only") == .train)
        #expect([split.side(of: "p"), split.side(of: "q")].filter { $0 == .validation }.count == 1)
    }

    @Test func unreadableSplitIsRefused() throws {
        let folder = Fixtures.temporaryDirectory("split-bad"), path = folder + "/split.json"
        defer { Fixtures.remove(folder) }
        try Data("{\"format\":\"other\"}".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: (any Error).self) { try DataSplit.read(path: path) }
    }
}
