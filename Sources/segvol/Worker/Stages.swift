import Foundation
import ImagingCore
import Logging
import NIfTIIO

/// One processing step of the worker, applied to each converted scan in pipeline order:
/// `NativeImageStage`, then `SegmentationStage` (labels, volumes, QC picture).
protocol ScanStage: Sendable {
    /// Stable name, used in the manifest's `stages` and `timings` and in failure reasons.
    var name: String { get }
    /// Every parameter that changes the output, recorded in the manifest.
    var parameters: [String: String] { get }
    /// Processes `scan`, writing files into `context.directory`; says what it wrote.
    func run(_ scan: Scan, context: StageContext) throws -> StageOutput
    /// What the stage adds to the job's manifest once every scan ran (the model), if anything.
    func jobModel() -> JobManifest.ModelRecord?
}

extension ScanStage {
    func jobModel() -> JobManifest.ModelRecord? { nil }
}

/// What a stage wrote for one scan.
struct StageOutput {
    /// File names relative to the scan's folder.
    var files: [String]
    /// The segmentation of the scan (SegmentationStage), or why it was skipped.
    var segmentation: JobManifest.ScanSegmentation? = nil
    var segmentationSkipped: JobManifest.Refusal? = nil
    /// Seconds of sub-stages (load_model, inference, …), added to the job's timings.
    var timings: [String: Double] = [:]
}

/// What a stage knows about the job it works for.
struct StageContext {
    /// The scan's output folder inside the temporary outbox folder.
    var directory: String
    var job: String
    var region: String
    var logger: Logger
}

/// Writes the converted scan on its native grid as `image.nii.gz` (lossless narrowest type).
struct NativeImageStage: ScanStage {
    var name: String { "native_image" }
    var parameters: [String: String] { ["file": "image.nii.gz", "grid": "native", "datatype": "exact"] }

    func run(_ scan: Scan, context: StageContext) throws -> StageOutput {
        try NIfTIWriter.writeImage(scan.image, to: context.directory + "/image.nii.gz", description: "segvol \(context.job)")
        return StageOutput(files: ["image.nii.gz"])
    }
}
