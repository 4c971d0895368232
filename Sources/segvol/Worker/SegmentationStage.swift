import Anatomy
import Foundation
import ImagingCore
import Logging
import Segmentation
import Spool
import Volumetry

/// Segments each converted scan with the model (labels.nii.gz, volumes.csv, qc.png beside
/// image.nii.gz, through `ScanSegmentation`, the code `segvol segment` runs) and records the
/// volumes, the region, the model and the patient pseudonym in the manifest for the reports.
///
/// The model is loaded once per job (the worker is a fresh process), at the first scan, and the
/// load time is recorded. Without a usable model every scan is still converted: the stage writes
/// nothing and the manifest says why (`segmentationSkipped`). A scan whose region the model does
/// not cover is skipped the same way; an `inbox/auto` scan whose header names no region is refused.
final class SegmentationStage: ScanStage, @unchecked Sendable {
    // One worker thread runs the stages in order: the mutable state is never shared.
    let modelDirectory: String
    let pseudonymKey: [UInt8]?
    let settings: SegmentationSettings
    private var loaded: (segmentation: ScanSegmentation, record: JobManifest.ModelRecord)?
    private var unavailable: JobManifest.Refusal?
    private var attempted = false

    /// `modelDirectory` "" finds the model (`ModelDirectory.locate`); a path is used as given.
    init(modelDirectory: String, pseudonymKey: [UInt8]?, settings: SegmentationSettings = .init()) {
        self.modelDirectory = modelDirectory
        self.pseudonymKey = pseudonymKey
        self.settings = settings
    }

    var name: String { "segmentation" }
    var parameters: [String: String] {
        ["model.dir": modelDirectory.isEmpty ? "(automatic)" : modelDirectory, "batch_size": "\(settings.batchSize)",
         "min_island_ml": "\(settings.islands.minimumML)", "max_window_pixels": "\(settings.maxWindowPixels)", "files": "labels.nii.gz, volumes.csv, qc.png"]
    }

    func jobModel() -> JobManifest.ModelRecord? { loaded?.record }

    /// The model folder for `model.dir` ("" finds one: SEGVOL_MODEL_DIR, the registry's
    /// `current` (`registry`, the site's `retrain.models_dir`), /var/lib/segvol/models/current,
    /// the installed defaults under /usr/local/share and /usr/share, the source tree), with
    /// symlinks resolved: the caller reads every file of one version even if `current` is
    /// switched meanwhile (a job never mixes two models' plan and weights).
    static func locateModel(directory: String, registry: String? = nil) throws(ImagingError) -> String {
        var system = [ModelDirectory.currentDirectory, "/usr/local/share/segvol/models/default", ModelDirectory.installedDirectory]
        if let registry, registry + "/current" != ModelDirectory.currentDirectory { system.insert(registry + "/current", at: 0) }
        let found = try ModelDirectory.locate(explicit: directory.isEmpty ? nil : directory, systemDirectories: system)
        guard let resolved = realpath(found, nil) else { return found }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Resolves, opens and loads the model; a missing or broken model is an outcome, not an error.
    static func loadModel(directory: String, registry: String? = nil, settings: SegmentationSettings = .init()) -> Result<(ScanSegmentation, JobManifest.ModelRecord), ImagingError> {
        let start = ContinuousClock.now
        do throws(ImagingError) {
            let catalog = try LabelCatalog.load()
            let path = try locateModel(directory: directory, registry: registry)
            let folder = try ModelFolder.open(path, catalog: catalog)
            let segmenter = try Segmenter(model: folder, catalog: catalog, settings: settings)
            let hashed: SegmentManifest.Model
            do {
                hashed = try SegmentManifest.Model(folder: folder)
            } catch {
                throw ImagingError(.modelNotFound, input: folder.path, reason: "the model files cannot be read (\(error))", remedy: "check the model folder's permissions")
            }
            let record = JobManifest.ModelRecord(path: hashed.path, version: hashed.version, weightsSHA256: hashed.weightsSHA256,
                                                 planSHA256: hashed.planSHA256, loadSeconds: (ContinuousClock.now - start).seconds)
            return .success((ScanSegmentation(segmenter: segmenter, model: folder, catalog: catalog), record))
        } catch {
            return .failure(error)
        }
    }

    func run(_ scan: Scan, context: StageContext) throws -> StageOutput {
        var timings: [String: Double] = [:]
        if !attempted {
            attempted = true
            switch Self.loadModel(directory: modelDirectory, settings: settings) {
            case .success(let model):
                loaded = (model.0, model.1)
                timings["load_model"] = model.1.loadSeconds
                context.logger.info("model loaded", metadata: ["stage": "\(name)", "model": "\(model.1.version)",
                                                               "seconds": "\(String(format: "%.3f", model.1.loadSeconds))"])
            case .failure(let error):
                unavailable = .init(label: "model", code: error.code.rawValue, reason: "\(error.reason) (\(error.input)). \(error.remedy)")
                context.logger.info("segmentation skipped: the model is missing or unusable", metadata: ["stage": "\(name)", "code": "\(error.code.rawValue)"])
            }
        }
        guard let loaded else { return StageOutput(files: [], segmentationSkipped: unavailable, timings: timings) }

        let region: Region, source: String
        if let r = Region(rawValue: context.region) {
            (region, source) = (r, "inbox")
        } else if context.region == "auto" {
            (region, source) = (try RegionDetection.region(of: scan.metadata, input: "the scan"), "header")
        } else {
            return StageOutput(files: [], segmentationSkipped: .init(label: "region", code: "region_unknown",
                                                                     reason: "The inbox '\(context.region)' names no region with a profile (thigh, calf, abdomen)."),
                               timings: timings)
        }
        let outcome: ScanSegmentation.Outcome
        do {
            outcome = try loaded.segmentation.run(scan.image, region: region, directory: context.directory, input: "the scan of job \(context.job)")
        } catch let error as ImagingError where error.code == .regionNotInModel {
            return StageOutput(files: [], segmentationSkipped: .init(label: "region", code: error.code.rawValue, reason: "\(error.reason). \(error.remedy)"),
                               timings: timings)
        }
        for t in outcome.timings { timings[t.stage, default: 0] += t.seconds }
        let result = outcome.result, report = outcome.report
        let record = JobManifest.ScanSegmentation(
            region: region.rawValue, regionSource: source, modelVersion: loaded.record.version,
            patientPseudonym: pseudonymKey.flatMap { Pseudonym.of(patientID: scan.metadata.patientID, key: $0) },
            studyDate: scan.metadata.studyDate.flatMap { $0.isEmpty ? nil : $0 },
            regionClasses: loaded.segmentation.catalog.classes(in: region).map(\.name),
            sides: report.sides, voxelVolumeMM3: report.voxelVolumeMM3, volumes: report.rows,
            removedIslandVoxels: result.removed.voxels.values.reduce(0, +),
            transform: result.transform, window: result.window, allowedIDs: result.allowedIDs)
        return StageOutput(files: outcome.files, segmentation: record, timings: timings)
    }
}
