import ArgumentParser
import Configuration
import Foundation
import Logging
import Segmentation
import Spool

/// `segvol worker --job DIR`: processes one claimed job in a child process of `segvol serve`.
/// Parsing untrusted DICOM/NIfTI happens only here, under the limits applied first thing.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Process one claimed job (started by `segvol serve`; not for interactive use).",
        discussion: "Exit status: 0 done, 65 input refused (result.json says why), 73 outputs not written (retried), 75 the daemon went away.",
        shouldDisplay: false
    )

    @Option(help: "The job folder work/<job>/.")
    var job: String

    @Option(help: "The site's outbox folder.")
    var outbox: String

    @Option(name: .customLong("memory-limit-mb"), help: "Address-space limit (RLIMIT_AS), MiB; 0 for none.")
    var memoryLimitMB = 0

    @Option(name: .customLong("cpu-limit-s"), help: "CPU-time limit (RLIMIT_CPU), seconds; 0 for none.")
    var cpuLimitSeconds = 0

    @Option(name: .customLong("log-level"))
    var logLevel = "info"

    @Option(name: .customLong("log-target"))
    var logTarget = "auto"

    @Option(name: .customLong("model-dir"), help: "The model folder (config model.dir); \"\" finds one.")
    var modelDirectory = ""

    @Option(name: .customLong("pseudonym-key"), help: "The site key of the patient pseudonyms (state/pseudonym.key).")
    var pseudonymKey: String?

    @Option(name: .customLong("zip-max-mb"), help: "Most MiB a zip drop may unpack to (config zip.max_uncompressed_mb).")
    var zipMaxMB = SegvolConfig().zip.maxUncompressedMB

    @Option(name: .customLong("zip-max-entries"), help: "Most entries in a zip drop (config zip.max_entries).")
    var zipMaxEntries = SegvolConfig().zip.maxEntries

    @Option(name: .customLong("zip-max-ratio"), help: "Highest expansion ratio of one zip entry (config zip.max_ratio).")
    var zipMaxRatio = SegvolConfig().zip.maxRatio

    @Option(name: .customLong("max-window-pixels"), help: "Most pixels of the network window (config model.max_window_pixels).")
    var maxWindowPixels = SegvolConfig().model.maxWindowPixels

    @Option(name: .customLong("series-index"), help: "The site's series index folder (state/series/); omitted: no late-instance check.")
    var seriesIndex: String?

    func run() throws {
        // OpenBLAS reads its kernel choice at load: re-exec once with it set unless inherited (the unit sets it).
        ensureBLASEnvironment()
        tuneMallocForOneScan()
        WorkerLimits.apply(memoryMB: memoryLimitMB, cpuSeconds: cpuLimitSeconds)
        WorkerLimits.exitWhenParentDies()
        let logger = LoggingSetup.logger(label: "segvol-worker", target: logTarget, level: logLevel)
        let stages: [any ScanStage] = [
            NativeImageStage(),
            SegmentationStage(modelDirectory: modelDirectory, pseudonymKey: pseudonymKey.flatMap(Pseudonym.readKey),
                              settings: SegmentationSettings(maxWindowPixels: maxWindowPixels)),
        ]
        let limits = ZipLimits(maxTotalBytes: Int64(zipMaxMB) << 20, maxEntries: zipMaxEntries, maxRatio: zipMaxRatio)
        let status = JobRunner(jobDir: job, outbox: outbox, logger: logger, stages: stages, zipLimits: limits,
                               seriesIndex: seriesIndex.map { SeriesIndex(directory: $0) }).run()
        throw ExitCode(status)
    }
}
