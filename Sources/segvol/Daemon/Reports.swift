import Anatomy
import Foundation
import Logging
import Spool
import Volumetry

/// The cumulative CSV reports in `reports/`, appended by the daemon (never the worker) once a
/// job's outputs are durable and before its input is archived:
///
/// - `volumes.csv`, tidy: one row per job × scan × class × side;
/// - `volumes_<region>.csv`, wide: one row per scan, one `volume_ml` column per class × side
///   (the region's catalog classes in catalog order × left, right, unsplit: a stable order).
///
/// Crash safety: each file is rewritten whole (the old bytes plus the new rows) to a temporary
/// name, fsynced and renamed over the old one, so a reader or a crash sees the file before or
/// after, never a torn row. Rows are keyed by job id + scan; keys already in the file are not
/// appended again, so finishing a job twice (a crash before its archive, a retry) adds nothing.
/// The price is one read and write of the file per job (a few MB after thousands of jobs).
struct ReportWriter {
    let reports: String
    let outbox: String
    var includeDropNames: Bool

    static let tidyHeader = ["job_id", "scan", "drop_name", "patient_pseudonym", "study_date", "region", "model_version",
                             "class_id", "class_name", "side", "volume_ml", "voxels", "slices", "truncated"]
    static let wideLeading = ["job_id", "scan", "drop_name", "patient_pseudonym", "study_date", "model_version"]
    static let sides: [BodySide] = [.left, .right, .unsplit]

    /// Appends the rows of a finished job (idempotent); returns metadata for the job.done event.
    func append(_ record: JobRecord) throws -> Logger.Metadata {
        let path = outbox + "/" + record.id + "/manifest.json"
        guard let data = FileManager.default.contents(atPath: path) else { return ["model": "none"] }
        let manifest = try JSONDecoder().decode(JobManifest.self, from: data)
        let segmented = manifest.scans.compactMap { scan in scan.segmentation.map { (scan: scan.dir == "." ? "" : scan.dir, seg: $0) } }
        guard !segmented.isEmpty else { return ["model": "none", "segmentation": "skipped"] }
        let drop = includeDropNames ? record.dropName : ""

        var tidy: [(key: String, cells: [CSVCell])] = []
        for (scan, seg) in segmented {
            for v in seg.volumes {
                tidy.append((record.id + "|" + scan, [
                    .text(record.id), .text(scan), .text(drop), .text(seg.patientPseudonym ?? ""), .text(seg.studyDate ?? ""),
                    .text(seg.region), .text(seg.modelVersion), .integer(v.id), .text(v.name), .text(v.side.rawValue),
                    .decimal(v.volumeML, places: 3), .integer(v.voxels), .integer(v.slices), .bool(v.truncated),
                ]))
            }
        }
        try appendRows(tidy, header: Self.tidyHeader, to: reports + "/volumes.csv")

        for region in Set(segmented.map(\.seg.region)).sorted() {
            let scans = segmented.filter { $0.seg.region == region }
            let classes = scans[0].seg.regionClasses
            let header = Self.wideLeading + classes.flatMap { c in Self.sides.map { "\(c)_\($0.rawValue)_ml" } }
            let rows = scans.map { scan, seg in
                var volume: [String: Double] = [:]
                for v in seg.volumes { volume["\(v.name)_\(v.side.rawValue)_ml"] = v.volumeML }
                let leading: [CSVCell] = [.text(record.id), .text(scan), .text(drop), .text(seg.patientPseudonym ?? ""),
                                          .text(seg.studyDate ?? ""), .text(seg.modelVersion)]
                return (key: record.id + "|" + scan,
                        cells: leading + header.dropFirst(Self.wideLeading.count).map { volume[$0].map { .decimal($0, places: 3) } ?? .number("") })
            }
            try appendRows(rows, header: header, to: reports + "/volumes_\(region).csv")
        }
        return ["model": "\(manifest.model?.version ?? segmented[0].seg.modelVersion)"]
    }

    /// Appends the rows whose key (first two columns) is not yet in the file, rewriting it
    /// durably. A file with another header (the catalog changed) is renamed aside first
    /// (`<name>.<UTC time>.csv`) and a new one started.
    func appendRows(_ rows: [(key: String, cells: [CSVCell])], header: [String], to path: String) throws {
        var existing = FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
        var keys = Set<String>()
        if !existing.isEmpty {
            let records = try CSVTable.decode(existing)
            if records.first != header {
                try Durable.rename(path, String(path.dropLast(4)) + "." + Self.stamp() + ".csv")
                existing = []
            } else {
                for r in records.dropFirst() where r.count >= 2 { keys.insert(r[0] + "|" + r[1]) }
            }
        }
        let fresh = rows.filter { !keys.contains($0.key) }.map(\.cells)
        guard !fresh.isEmpty else { return }
        var bytes = try CSVTable.encode(header: header, rows: fresh)
        if !existing.isEmpty {
            // Drop the encoded header line (column names hold no quotes or line breaks).
            let end = bytes.firstIndex(of: 10)! + 1
            bytes = existing + bytes[end...]
        }
        try Durable.write(bytes, to: path)
    }

    static func stamp() -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return f.string(from: Date())
    }
}
