import ArgumentParser
import Foundation
import Logging
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

    func run() throws {
        WorkerLimits.apply(memoryMB: memoryLimitMB, cpuSeconds: cpuLimitSeconds)
        WorkerLimits.exitWhenParentDies()
        let logger = LoggingSetup.logger(label: "segvol-worker", target: logTarget, level: logLevel)
        let status = JobRunner(jobDir: job, outbox: outbox, logger: logger, stages: defaultStages).run()
        throw ExitCode(status)
    }
}
