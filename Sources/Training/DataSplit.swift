import Foundation
import ImagingCore
import NIfTIIO

/// The subject-level train/validation split (`split.json`), frozen once written.
///
/// Every subject is on one side, so all visits of a subject are too. The first time, per source
/// dataset, the subjects are ordered by SHA-256 of their id and the first `ceil(fraction × n)`
/// go to validation (at least one when the dataset has two subjects or more; a dataset with a
/// single subject trains). Later runs read the file and never move a subject; a subject the
/// file does not know is assigned by its hash alone (validation when the hash's first 64 bits,
/// as a fraction of 2^64, fall below `validationFraction`) and the file is rewritten with it.
public struct DataSplit: Codable, Equatable, Sendable {
    public static let formatName = "segvol-split"

    public enum Side: String, Codable, Sendable { case train, validation }

    public var format = DataSplit.formatName
    public var version = 1
    public var validationFraction: Double
    /// Subject id → side.
    public var subjects: [String: Side]

    public init(validationFraction: Double, subjects: [String: Side] = [:]) {
        self.validationFraction = validationFraction
        self.subjects = subjects
    }

    /// The side of `subject` (nil when unknown).
    public func side(of subject: String) -> Side? { subjects[subject] }

    /// The hash position of a subject in [0, 1).
    static func position(_ subject: String) -> Double {
        let hex = SHA256.hex(subject)
        return Double(UInt64(hex.prefix(16), radix: 16)!) / 18446744073709551616.0
    }

    /// Adds the subjects of `cases` (subject, dataset pairs) the split does not know yet.
    /// Returns true when something was added.
    @discardableResult
    public mutating func assign(_ cases: [(subject: String, dataset: String)]) -> Bool {
        let unknown = cases.filter { subjects[$0.subject] == nil }
        guard !unknown.isEmpty else { return false }
        if subjects.isEmpty {
            // First split: per dataset, the lowest-hash subjects validate.
            var byDataset: [String: [String]] = [:]
            for c in unknown where !(byDataset[c.dataset]?.contains(c.subject) ?? false) { byDataset[c.dataset, default: []].append(c.subject) }
            for dataset in byDataset.keys.sorted() {
                let ordered = byDataset[dataset]!.sorted { (Self.position($0), $0) < (Self.position($1), $1) }
                let take = ordered.count >= 2 ? max(1, Int((validationFraction * Double(ordered.count)).rounded(.up))) : 0
                for (i, s) in ordered.enumerated() where subjects[s] == nil {
                    subjects[s] = i < min(take, ordered.count - 1) ? .validation : .train
                }
            }
        } else {
            for c in unknown where subjects[c.subject] == nil {
                subjects[c.subject] = Self.position(c.subject) < validationFraction ? .validation : .train
            }
        }
        return true
    }

    /// Reads `path`, or returns nil when it does not exist.
    public static func read(path: String) throws(ImagingError) -> DataSplit? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path),
              let split = try? JSONDecoder().decode(DataSplit.self, from: data),
              split.format == formatName, split.version == 1 else {
            throw ImagingError(.splitInvalid, input: path, reason: "not a readable segvol split file",
                               remedy: "restore split.json from backup; delete it only to re-split from scratch (validation scores then change meaning)")
        }
        return split
    }

    /// Writes the split durably (sorted keys, stable bytes).
    public func write(path: String) throws(ImagingError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do { try DurableFile.write(Array(try encoder.encode(self)), to: path) } catch let e as ImagingError { throw e } catch {
            throw ImagingError(.writeFailed, input: path, reason: "\(error)", remedy: "check the folder's permissions")
        }
    }

    /// Reads the split at `path` (or starts one with `validationFraction`), assigns new
    /// subjects, writes it back when it changed, and returns it.
    public static func loadOrCreate(path: String, cases: [(subject: String, dataset: String)],
                                    validationFraction: Double) throws(ImagingError) -> DataSplit {
        var split = try read(path: path) ?? DataSplit(validationFraction: validationFraction)
        if split.assign(cases) { try split.write(path: path) }
        return split
    }
}
