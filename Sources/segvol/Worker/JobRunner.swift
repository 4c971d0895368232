import DICOMIO
import Foundation
import ImagingCore
import Logging
import NIfTIIO
import Spool

/// Runs one job in the worker: pre-check → convert → stages per scan → durable outbox folder.
///
/// Multi-series policy (see `Conversion`): every DICOM series in a drop that converts is its own
/// scan, written to `outbox/<job>/series<N>/`; a drop that yields one scan writes straight into
/// `outbox/<job>/`. What does not convert is listed in the manifest's `refused`; the job fails
/// only when no scan converts.
struct JobRunner {
    var jobDir: String
    var outbox: String
    var logger: Logger
    var stages: [any ScanStage]
    /// Limits for unpacking a zip drop (config `[zip]`).
    var zipLimits = ZipLimits()
    /// The site's series index (`state/series/`); nil skips the late-instance check.
    var seriesIndex: SeriesIndex? = nil

    /// A refusal to report through result.json and the exit status.
    struct Refused: Error {
        var code: String
        var message: String
        var stage: String
        var status: Int32
    }

    func run() -> Int32 {
        let jobID = (jobDir as NSString).lastPathComponent
        guard let data = FileManager.default.contents(atPath: jobDir + "/job.json"),
              let record = try? JSONDecoder().decode(JobRecord.self, from: data) else {
            return finish(Refused(code: "lost_record", message: "The job record work/\(jobID)/job.json is missing or unreadable.", stage: "worker", status: WorkerExit.badInput), job: jobID)
        }
        var log = logger
        log[metadataKey: "job"] = "\(record.id)"
        log[metadataKey: "region"] = "\(record.region)"
        let final = outbox + "/" + record.id
        if FileManager.default.fileExists(atPath: final + "/manifest.json") {
            log.info("outputs already complete; reusing them", metadata: ["stage": "finish"])
            return WorkerExit.done
        }
        // A zip's unpacked copy is scratch: the claimed zip itself is what is archived or failed.
        defer { try? Durable.removeTree(DropIntake.unpackFolder(jobDir: jobDir)) }
        do {
            try process(record, logger: log, final: final)
            return WorkerExit.done
        } catch let refused as Refused {
            return finish(refused, job: record.id)
        } catch {
            return finish(Refused(code: "worker_failed", message: "\(error)", stage: "worker", status: WorkerExit.cannotWrite), job: record.id)
        }
    }

    /// Writes result.json (best effort) and returns the exit status.
    func finish(_ refused: Refused, job: String) -> Int32 {
        let result = WorkerResult(code: refused.code, message: refused.message, stage: refused.stage)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        if let bytes = try? encoder.encode(result) { try? Durable.write(Array(bytes), to: jobDir + "/result.json") }
        var log = logger
        log[metadataKey: "job"] = "\(job)"
        log.warning("job refused by the worker", metadata: ["stage": "\(refused.stage)", "code": "\(refused.code)"])
        return refused.status
    }

    func process(_ record: JobRecord, logger: Logger, final: String) throws {
        let clock = ContinuousClock(), start = clock.now
        var timings: [String: Double] = [:]
        func lap(_ name: String, since: ContinuousClock.Instant) { timings[name, default: 0] += (clock.now - since).seconds }

        // Pre-check: regular files only, hashed, nothing followed or opened that is not ours;
        // a zip is unpacked into the job folder under the [zip] limits and its files checked too.
        let drop = jobDir + "/drop/" + record.dropName
        var t = clock.now
        let intake = try DropIntake.prepare(drop: drop, dropName: record.dropName, jobDir: jobDir, zipLimits: zipLimits, logger: logger)
        let inputs = intake.inputs
        lap("precheck", since: t)

        // Convert: NIfTI (one file) or DICOM (files found by content; each series a scan).
        t = clock.now
        let converted = try Conversion.run(drop: intake.source, isFolder: intake.sourceIsFolder,
                                           inputs: intake.convertInputs.map { InputFileName(relative: $0.path) })
        let supersedes = try checkLateInstances(converted, job: record.id)
        try converted.requireScans()
        let scans = converted.scans, refused = converted.refused, skipped = converted.skipped
        lap("convert", since: t)
        logger.info("converted", metadata: ["stage": "convert", "scans": "\(scans.count)", "refused": "\(refused.count)"])

        // Stages write into outbox/.tmp-<job>/, renamed into place at the end.
        let temp = outbox + "/.tmp-" + record.id
        try? Durable.removeTree(temp)
        var entries: [JobManifest.ScanEntry] = []
        do {
            try Durable.makeDirectory(temp)
            for (dir, scan) in scans {
                let directory = dir == "." ? temp : temp + "/" + dir
                if dir != "." { try Durable.makeDirectory(directory) }
                let context = StageContext(directory: directory, job: record.id, region: record.region, logger: logger)
                var outputs: [JobManifest.OutputFile] = []
                var segmentation: JobManifest.ScanSegmentation?, segmentationSkipped: JobManifest.Refusal?
                for stage in stages {
                    t = clock.now
                    let output: StageOutput
                    do { output = try stage.run(scan, context: context) } catch let error as ImagingError where error.code != .writeFailed {
                        throw Refused(code: error.code.rawValue, message: error.operatorMessage, stage: stage.name, status: WorkerExit.badInput)
                    }
                    segmentation = output.segmentation ?? segmentation
                    segmentationSkipped = output.segmentationSkipped ?? segmentationSkipped
                    for (name, seconds) in output.timings { timings[name, default: 0] += seconds }
                    for file in output.files {
                        let path = directory + "/" + file
                        try Durable.syncFile(path)
                        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
                        outputs.append(.init(path: dir == "." ? file : dir + "/" + file, sha256: try SHA256.hash(path: path), bytes: Int64(size)))
                    }
                    lap(stage.name, since: t)
                }
                if dir != "." { try Durable.syncDirectory(directory) }
                var scanEntry = entry(dir: dir, scan: scan, outputs: outputs)
                scanEntry.segmentation = segmentation
                scanEntry.segmentationSkipped = segmentationSkipped
                entries.append(scanEntry)
            }
            guard InputFiles.unchanged(intake.claimed, drop: drop, isFolder: intake.sourceIsFolder && intake.source == drop) else {
                throw Refused(code: "input_changed", message: "An input file changed after the drop was claimed; the writer was still copying. Drop it again once the copy is complete.",
                              stage: "precheck", status: WorkerExit.badInput)
            }
            timings["total"] = (clock.now - start).seconds
            let manifest = JobManifest(job: record.id, region: record.region, inputs: inputs, scans: entries, refused: refused,
                                       skippedFiles: skipped, stages: stages.map { .init(name: $0.name, parameters: $0.parameters) },
                                       model: stages.lazy.compactMap { $0.jobModel() }.first,
                                       timings: timings, createdAt: ISO8601DateFormatter().string(from: Date()), supersedes: supersedes.isEmpty ? nil : supersedes)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try Durable.write(Array(try encoder.encode(manifest)), to: temp + "/manifest.json")
            try Durable.rename(temp, final)
            recordSeries(converted, job: record.id, logger: logger)
        } catch let error as ImagingError {
            try? Durable.removeTree(temp)
            // NIfTIIO reports ENOSPC/EDQUOT as write_failed naming errno 28/122: a full disk waits, it is not a bad input.
            let full = error.code == .writeFailed && (error.reason.contains("(errno 28)") || error.reason.contains("(errno 122)"))
            throw Refused(code: full ? "no_space" : error.code.rawValue, message: error.operatorMessage, stage: "write", status: WorkerExit.cannotWrite)
        } catch let error as SystemCallError {
            try? Durable.removeTree(temp)
            throw Refused(code: error.isNoSpace ? "no_space" : "write_failed", message: "\(error)", stage: "write", status: WorkerExit.cannotWrite)
        } catch {
            try? Durable.removeTree(temp)
            throw error
        }
        logger.info("outputs written", metadata: ["stage": "finish", "seconds": "\(timings["total"] ?? 0)"])
    }

    func entry(dir: String, scan: Scan, outputs: [JobManifest.OutputFile]) -> JobManifest.ScanEntry {
        let m = scan.metadata, grid = scan.image.grid
        return .init(dir: dir, seriesInstanceUID: m.seriesInstanceUID, seriesNumber: m.seriesNumber, modality: m.modality,
                     seriesDescription: m.seriesDescription, sourceFormat: m.sourceFormat, shape: grid.shape,
                     spacingMM: [grid.affine.spacing.x, grid.affine.spacing.y, grid.affine.spacing.z], axisCodes: grid.affine.axisCodes, warnings: scan.warnings, outputs: outputs,
                     segmentation: nil, segmentationSkipped: nil)
    }

}

extension Duration {
    /// Seconds as a Double.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
