import Foundation
import Logging
import Spool

/// The worker's view of a claimed drop before conversion: a folder, a single file, or a zip
/// unpacked into `work/<job>/unzipped/` (see docs/operations.md, "Zip drops").
struct DropIntake {
    /// What the converter reads: the drop itself, or the unpacked folder of a zip.
    var source: String
    var sourceIsFolder: Bool
    /// Every input for the manifest: the drop's files, or the zip and then each unpacked file
    /// (as `<zip name>/<entry path>`).
    var inputs: [InputFile]
    /// The files the converter reads (relative to `source`).
    var convertInputs: [InputFile]
    /// The files that must not change until the outputs are written (the drop as claimed).
    var claimed: [InputFile]

    /// The folder a zip drop is unpacked into; removed when the job ends (done or failed).
    static func unpackFolder(jobDir: String) -> String { jobDir + "/unzipped" }

    static func prepare(drop: String, dropName: String, jobDir: String, zipLimits: ZipLimits, logger: Logger) throws(JobRunner.Refused) -> DropIntake {
        let isFolder = (try? FileManager.default.attributesOfItem(atPath: drop)[.type] as? FileAttributeType) == .typeDirectory
        let inputs = try collect(drop)
        guard !isFolder && ZipArchive.isZipName(dropName) else {
            return DropIntake(source: drop, sourceIsFolder: isFolder, inputs: inputs, convertInputs: inputs, claimed: inputs)
        }
        let folder = unpackFolder(jobDir: jobDir)
        try? Durable.removeTree(folder)
        do {
            let entries = try ZipExtractor.extract(zip: drop, into: folder, limits: zipLimits)
            logger.info("zip unpacked", metadata: ["stage": "unzip", "entries": "\(entries.count)"])
        } catch let error as SpoolError {
            try? Durable.removeTree(folder)
            throw JobRunner.Refused(code: error.code.rawValue, message: "\(error.message). \(error.remedy)", stage: "unzip",
                                    status: error.code == .io ? WorkerExit.cannotWrite : WorkerExit.badInput)
        } catch let error as SystemCallError {
            try? Durable.removeTree(folder)
            throw JobRunner.Refused(code: error.isNoSpace ? "no_space" : "write_failed", message: "The zip drop could not be unpacked: \(error.summary).",
                                    stage: "unzip", status: WorkerExit.cannotWrite)
        } catch {
            try? Durable.removeTree(folder)
            throw JobRunner.Refused(code: "write_failed", message: "\(error)", stage: "unzip", status: WorkerExit.cannotWrite)
        }
        let unpacked = try collect(folder)
        let named = unpacked.map { file -> InputFile in
            var file = file
            file.path = dropName + "/" + file.path
            return file
        }
        return DropIntake(source: folder, sourceIsFolder: true, inputs: inputs + named, convertInputs: unpacked, claimed: inputs)
    }

    static func collect(_ path: String) throws(JobRunner.Refused) -> [InputFile] {
        do { return try InputFiles.collect(drop: path) } catch let error as SpoolError {
            throw JobRunner.Refused(code: error.code.rawValue, message: "\(error.message). \(error.remedy)", stage: "precheck",
                                    status: error.code == .io ? WorkerExit.cannotWrite : WorkerExit.badInput)
        } catch {
            throw JobRunner.Refused(code: "io", message: "\(error)", stage: "precheck", status: WorkerExit.cannotWrite)
        }
    }
}

extension JobRunner {
    /// Refuses the job when one of its DICOM series was processed by an earlier job that had
    /// instances this drop lacks: the drop holds instances that arrived after their series was
    /// claimed. A drop with every earlier instance (a complete re-drop) is processed; the
    /// earlier jobs it supersedes are returned for the manifest.
    func checkLateInstances(_ converted: Conversion, job: String) throws(Refused) -> [String] {
        guard let index = seriesIndex else { return [] }
        var supersedes: [String] = []
        for (uid, instances) in converted.series.sorted(by: { $0.key < $1.key }) {
            switch index.verdict(seriesUID: uid, sopInstanceUIDs: Array(instances)) {
            case .new: break
            case .complete(let earlier):
                if earlier.job != job { supersedes.append(earlier.job) }
            case .late(let earlier, let missing, let added):
                guard earlier.job != job else { break }
                throw Refused(code: SpoolError.Code.lateInstances.rawValue, message: """
                    This drop holds \(instances.count) instance(s) of a DICOM series that job \(earlier.job) already processed from \
                    \(earlier.instances.count) instance(s); \(added) of them are new and \(missing) processed then are not in this drop. \
                    They arrived after the series was claimed, so the result of \(earlier.job) may be incomplete. Re-drop the complete \
                    series in one folder: the files of \(earlier.job) (archive/\(earlier.job)/drop/, while retention keeps it) together \
                    with these; a drop holding every earlier instance is processed again and supersedes \(earlier.job).
                    """, stage: "convert", status: WorkerExit.badInput)
            }
        }
        return Array(Set(supersedes)).sorted()
    }

    /// Records the converted series of a finished job in the index (best effort: a failure only
    /// weakens the late-instance check for these series, it is logged).
    func recordSeries(_ converted: Conversion, job: String, logger: Logger) {
        guard let index = seriesIndex else { return }
        for uid in converted.convertedSeries {
            do { try index.record(seriesUID: uid, job: job, sopInstanceUIDs: Array(converted.series[uid] ?? [])) } catch {
                logger.warning("cannot record a series in the series index", metadata: ["stage": "finish", "error": "\(error.summary)"])
            }
        }
    }
}
