import ImagingCore
import NIfTIIO

/// The per-scan `volumes.csv`: one row per class × side (docs/volumetry.md).
public enum VolumesCSV {
    /// Column names, in order.
    public static let header = ["class_id", "class_name", "group", "side", "volume_ml", "voxels", "slices", "truncated"]

    /// The cells of a report's rows.
    public static func rows(_ report: VolumeReport) -> [[CSVCell]] {
        report.rows.map { r in
            [.integer(r.id), .text(r.name), .text(r.group.rawValue), .text(r.side.rawValue),
             .decimal(r.volumeML, places: 3), .integer(r.voxels), .integer(r.slices), .bool(r.truncated)]
        }
    }

    public static func encode(_ report: VolumeReport) throws(ImagingError) -> [UInt8] {
        try CSVTable.encode(header: header, rows: rows(report))
    }

    /// Writes the CSV durably (temporary name, fsync, rename, directory fsync).
    public static func write(_ report: VolumeReport, to path: String) throws {
        try DurableFile.write(try encode(report), to: path)
    }
}
