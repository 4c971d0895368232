import Foundation
import ImagingCore
import Logging
import NIfTIIO

/// One processing step of the worker, applied to each converted scan in pipeline order. The
/// segmentation, volumetry and QC stages plug in here later (each a `ScanStage` appended to
/// `defaultStages`); today the pipeline only writes the native image.
protocol ScanStage: Sendable {
    /// Stable name, used in the manifest's `stages` and `timings` and in failure reasons.
    var name: String { get }
    /// Every parameter that changes the output, recorded in the manifest.
    var parameters: [String: String] { get }
    /// Processes `scan`, writing files into `context.directory`; returns their names relative to it.
    func run(_ scan: Scan, context: StageContext) throws -> [String]
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

    func run(_ scan: Scan, context: StageContext) throws -> [String] {
        try NIfTIWriter.writeImage(scan.image, to: context.directory + "/image.nii.gz", description: "segvol \(context.job)")
        return ["image.nii.gz"]
    }
}

/// The pipeline the daemon runs today.
let defaultStages: [any ScanStage] = [NativeImageStage()]
