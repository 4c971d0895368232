import ArgumentParser
import Configuration
import Foundation
import Anatomy
import ImagingCore
import Segmentation
import Spool

/// `segvol status`: a human summary of a site, read from its folders (works with the daemon
/// stopped): whether the daemon runs, the queue, recent jobs, failures with reasons, disk space.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the daemon's queue, recent jobs, failures with reasons, and disk space."
    )

    @Option(help: "The configuration file.")
    var config = defaultConfigPath

    @Option(help: "How many recent jobs and failures to list.")
    var recent = 10

    func run() throws {
        let loaded: SegvolConfig
        do { loaded = try ConfigLoader.load(path: config) } catch {
            note(error.description)
            throw ExitCode(ExitStatus.config)
        }
        let store = JobStore(paths: SitePaths(loaded))
        let paths = store.paths
        if let pid = SpoolLock.holder(stateDirectory: paths.state) {
            print("daemon: running (pid \(pid))")
        } else {
            print("daemon: not running")
        }
        print("site: \(paths.root)")
        do throws(ImagingError) {
            let folder = try ModelFolder.open(try SegmentationStage.locateModel(directory: loaded.model.dir, registry: SitePaths.models(loaded)), catalog: try LabelCatalog.load())
            print("model: \(folder.version) (\(folder.path))")
        } catch {
            print("model: none, jobs are converted without segmentation [\(error.code.rawValue)] \(error.reason) (\(error.input))")
        }
        if let space = try? DiskSpace.of(paths.work) {
            let low = space.isBelow(minFreePercent: loaded.disk.minFreePercent, minFreeMB: loaded.disk.minFreeMB)
            print(String(format: "disk: %.1f GiB free of %.1f GiB (%.0f%%)%@", Double(space.freeBytes) / 1_073_741_824,
                         Double(space.totalBytes) / 1_073_741_824, space.freePercent, low ? " — below the watermark: intake paused" : ""))
        }
        let waiting = paths.inboxFolders(loaded).reduce(0) { count, folder in
            count + ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { !isTemporaryName($0) }.count
        }
        print("inbox: \(waiting) drop(s) waiting or settling")
        let active = (try? store.activeJobs()) ?? []
        print("queue: \(active.count) job(s)")
        let now = Date().timeIntervalSince1970
        for job in active {
            var line = "  \(job.id)  \(job.region)  \(job.state.rawValue)  attempts \(job.attempts)"
            if job.notBefore > now { line += String(format: "  retry in %.0f s", job.notBefore - now) }
            if let last = job.lastFailure { line += "  last failure: \(last)" }
            print(line)
        }
        let done = store.jobIDs(in: paths.outbox)
        print("done: \(done.count) job(s) in the outbox; most recent:")
        for id in done.suffix(recent).reversed() { print("  \(id)") }
        let failed = store.jobIDs(in: paths.failed)
        print("failed: \(failed.count) job(s); most recent:")
        for id in failed.suffix(recent).reversed() {
            if let reason = store.failureReason(id) {
                print("  \(id)  [\(reason.code)] at \(reason.stage) after \(reason.attempts) attempt(s): \(reason.message)")
            } else {
                print("  \(id)  (no reason.json)")
            }
        }
    }
}
