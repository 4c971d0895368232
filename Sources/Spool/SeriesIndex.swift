import Configuration
import Foundation
import ImagingCore

/// Which DICOM series were processed, by which job, from which instances: `state/series/`,
/// one small JSON file per SeriesInstanceUID, written by the worker once a job's outputs are
/// durable. The worker reads it to tell a complete re-drop (processed again) from instances
/// that arrived after their series was claimed (refused with `late_instances`).
///
/// No identifier is stored in clear: files are named by a hash of the SeriesInstanceUID and list
/// hashes of the SOPInstanceUIDs (16 hex digits each).
public struct SeriesIndex: Sendable {
    /// What the index knows about one series.
    public struct Record: Codable, Sendable, Equatable {
        /// The job whose outputs hold this series.
        public var job: String
        /// Hashes of the SOPInstanceUIDs that job processed, sorted.
        public var instances: [String]
        public var recordedAt: String
    }

    /// What a drop's series is, compared with the index.
    public enum Verdict: Sendable, Equatable {
        /// Never processed.
        case new
        /// Processed before from a subset of (or the same) instances: this drop has them all again.
        case complete(earlier: Record)
        /// Processed before, and this drop lacks some of the instances processed then: its
        /// instances arrived late (or it is a partial re-drop).
        case late(earlier: Record, missing: Int, added: Int)
    }

    public let directory: String

    public init(directory: String) { self.directory = directory }

    static func hex(_ text: String, digits: Int) -> String {
        var h = SHA256()
        Array(text.utf8).withUnsafeBytes { h.update($0) }
        return String(h.finalizeHex().prefix(digits))
    }

    public static func instanceHash(_ sopInstanceUID: String) -> String { hex(sopInstanceUID, digits: 16) }

    func file(_ seriesUID: String) -> String { directory + "/" + Self.hex(seriesUID, digits: 32) + ".json" }

    public func lookup(seriesUID: String) -> Record? {
        guard let data = FileManager.default.contents(atPath: file(seriesUID)) else { return nil }
        return try? JSONDecoder().decode(Record.self, from: data)
    }

    /// Compares a drop's instances of `seriesUID` with the index.
    public func verdict(seriesUID: String, sopInstanceUIDs: [String]) -> Verdict {
        guard let earlier = lookup(seriesUID: seriesUID) else { return .new }
        let now = Set(sopInstanceUIDs.map(Self.instanceHash)), before = Set(earlier.instances)
        let missing = before.subtracting(now).count
        return missing == 0 ? .complete(earlier: earlier) : .late(earlier: earlier, missing: missing, added: now.subtracting(before).count)
    }

    /// Records (durably, replacing any earlier record) that `job` processed these instances.
    public func record(seriesUID: String, job: String, sopInstanceUIDs: [String], now: Date = Date()) throws(SystemCallError) {
        try Durable.makeDirectory(directory)
        let record = Record(job: job, instances: Set(sopInstanceUIDs.map(Self.instanceHash)).sorted(),
                            recordedAt: ISO8601DateFormatter().string(from: now))
        try Durable.write(encodeJSON(record), to: file(seriesUID))
    }
}

extension SitePaths {
    /// The series index (`state/series/`), see `SeriesIndex`.
    public var seriesIndex: String { state + "/series" }
}
