import Foundation
import ImagingCore
import Resampling
import Segmentation
import Spool
import Volumetry

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
    /// The model the scans were segmented with (nil: segmentation skipped, see each scan's
    /// `segmentationSkipped`).
    var model: ModelRecord?
    /// Seconds per stage (precheck, convert, one per stage, finish) and total.
    var timings: [String: Double]
    var createdAt: String
    /// Earlier jobs that processed a DICOM series of this drop from a subset of its instances
    /// (this drop is a complete re-drop; their results are superseded). Absent for most jobs.
    var supersedes: [String]? = nil

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
        /// The scan's segmentation and volumes (nil when skipped).
        var segmentation: ScanSegmentation?
        /// Why the scan was not segmented (no model, a region the model does not cover).
        var segmentationSkipped: Refusal?
    }

    /// One scan's segmentation: what the daemon's reports are made from.
    struct ScanSegmentation: Codable {
        var region: String
        /// "inbox" (the drop's inbox folder) or "header" (inbox/auto: BodyPartExamined / description).
        var regionSource: String
        var modelVersion: String
        /// HMAC-SHA256 of the PatientID under the site key (state/pseudonym.key), 16 hex digits.
        var patientPseudonym: String?
        /// DICOM StudyDate (YYYYMMDD) when known.
        var studyDate: String?
        /// The region's classes in catalog order (the wide report's columns).
        var regionClasses: [String]
        /// How left and right were told (bilateral, single, trunk) and the sentence why.
        var sides: SideSplit
        var voxelVolumeMM3: Double
        /// Every class × side row of volumes.csv.
        var volumes: [ClassVolume]
        /// Voxels removed as small islands.
        var removedIslandVoxels: Int
        /// Native ↔ profile resampling record, the network's input window, the ids the argmax
        /// could choose (every preprocessing parameter, with the model's plan).
        var transform: ProfileTransform
        var window: SliceWindow
        var allowedIDs: [Int]
    }

    struct ModelRecord: Codable {
        var path: String
        var version: String
        var weightsSHA256: String
        var planSHA256: String
        /// Seconds to read the plan and weights and build the network (once per job).
        var loadSeconds: Double
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
        /// What the operator can do (absent in manifests of segvol before 0.3 and for skipped files).
        var remedy: String?
    }

    struct StageRecord: Codable {
        var name: String
        var parameters: [String: String]
    }
}

/// The version recorded in manifests (a separate name avoids shadowing by the property).
let manifestVersion = segvolVersion
