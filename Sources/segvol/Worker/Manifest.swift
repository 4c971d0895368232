import Foundation
import ImagingCore
import Spool

/// `outbox/<job>/manifest.json`: everything needed to trust and reproduce the outputs. Written
/// last, so its presence means the job's outputs are complete; every output is listed with its
/// SHA-256 (invariant I2).
struct JobManifest: Codable {
    var format = 1
    var job: String
    var region: String
    var segvolVersion = manifestVersion
    /// Every input file of the drop with its SHA-256 (paths relative to the drop).
    var inputs: [InputFile]
    /// One entry per scan made from the drop (each DICOM series is its own scan).
    var scans: [ScanEntry]
    /// Series found in the drop that could not be converted, with why.
    var refused: [Refusal]
    /// Files of the drop that were not images (reports, non-DICOM files), with why.
    var skippedFiles: [Refusal]
    /// Stage names and their parameters, in pipeline order.
    var stages: [StageRecord]
    /// Seconds per stage (precheck, convert, one per stage, finish) and total.
    var timings: [String: Double]
    var createdAt: String

    struct ScanEntry: Codable {
        /// Folder of this scan's outputs relative to outbox/<job>/ ("." for a single scan).
        var dir: String
        var seriesInstanceUID: String?
        var seriesNumber: Int?
        var modality: String?
        var seriesDescription: String?
        var sourceFormat: String?
        var shape: [Int]
        var spacingMM: [Double]
        var axisCodes: String
        var warnings: [String]
        var outputs: [OutputFile]
    }

    struct OutputFile: Codable {
        /// Path relative to outbox/<job>/.
        var path: String
        var sha256: String
        var bytes: Int64
    }

    struct Refusal: Codable {
        var label: String
        var code: String
        var reason: String
    }

    struct StageRecord: Codable {
        var name: String
        var parameters: [String: String]
    }
}

/// The version recorded in manifests (a separate name avoids shadowing by the property).
let manifestVersion = segvolVersion
