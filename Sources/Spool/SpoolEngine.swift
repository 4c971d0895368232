import Configuration
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's state machine, driven by `tick()` from one loop (the `serve` command's Service):
/// inbox scanning and settling, claiming, running one worker at a time with limits, retries with
/// back-off, finishing or failing jobs, the disk watermark and retention. Not thread-safe: one
/// loop owns it.
public final class SpoolEngine {
    public private(set) var config: SegvolConfig
    public let store: JobStore
    let lock: SpoolLock
    let watcher: InboxWatcher
    var logger: Logger
    let workerExecutable: String
    /// The queue changed (claim, retry, recovery): look for a job to start.
    var queueDirty = true
    /// Earliest back-off expiry among pending jobs (seconds since the epoch).
    var nextBackoffExpiry = Double.infinity
    /// Errors already logged, so a persistent failure logs one line, not one per tick.
    var loggedErrors: Set<String> = []
    var settler: Settler
    var running: (record: JobRecord, process: WorkerProcess)?
    var lastRescan: ContinuousClock.Instant?
    var lastSettleCheck: ContinuousClock.Instant?
    var lastDiskCheck: ContinuousClock.Instant?
    var lastPurge: ContinuousClock.Instant?
    var reportedUnusable: Set<String> = []
    /// Intake is paused because free space is below the watermark.
    public private(set) var intakePaused = false
    /// Jobs finished and failed since start.
    public internal(set) var doneCount = 0
    public internal(set) var failedCount = 0
    /// Set on every change worth a new STATUS= line.
    public var statusChanged = true
    /// Runs after a job's outputs are durable and before its input is archived (the daemon
    /// appends the CSV reports here); also for jobs that recovery finishes. Must be idempotent:
    /// a crash between it and the archive runs it again. Its metadata goes on the job.done
    /// event. When it throws, the job waits and is finished again later (the worker reuses the
    /// complete outputs; the attempt is not counted).
    public var finishing: ((JobRecord) throws -> Logger.Metadata)?
    /// The model folder for the next job, called once per job start (the daemon resolves
    /// `models/current` here, so a switch applies between jobs and never inside one); nil
    /// passes `model.dir` as configured.
    public var modelDirectoryForJob: (() -> String)?
    /// The model part of the STATUS= line ("model v3", "no model"), set by the daemon.
    public var modelSummary: String? { didSet { statusChanged = true } }

    /// Takes the instance lock (failing fast if another instance holds it), creates the site's
    /// folders and starts watching the inboxes. `workerExecutable` is the `segvol` binary.
    public init(config: SegvolConfig, logger: Logger, workerExecutable: String) throws {
        self.config = config
        self.logger = logger
        self.workerExecutable = workerExecutable
        let paths = SitePaths(config)
        store = JobStore(paths: paths)
        do {
            try Durable.makeDirectory(paths.root)
            try Durable.makeDirectory(paths.state)
        } catch {
            throw SpoolError(.io, "cannot create the site folders: \(error)", remedy: "Create \(paths.root) writable by the daemon's user (systemd-tmpfiles does it for the packaged service).")
        }
        lock = try SpoolLock(stateDirectory: paths.state)
        do {
            try store.prepareFolders(inboxes: paths.inboxFolders(config).map(\.path))
            watcher = try InboxWatcher()
            for folder in paths.inboxFolders(config) { try watcher.watch(folder.path) }
        } catch {
            throw SpoolError(.io, "cannot prepare the site folders: \(error)", remedy: "Check the site folders' ownership and permissions.")
        }
        settler = Settler(quietFolder: .seconds(config.inbox.quietFolderSeconds), quietFile: .seconds(config.inbox.quietFileSeconds),
                          stalePartialAfter: .seconds(config.inbox.stalePartialAfterSeconds))
    }

    /// The start-up sweep (before READY=1): orphan temporaries removed, unfinished jobs re-queued.
    public func recover() throws -> RecoveryReport {
        let report = try store.recover(deleteInput: config.retention.processed == "delete") { [finishing, logger] record in
            do { _ = try finishing?(record) } catch {
                logger.error("cannot write the reports of a finished job; it is finished anyway", metadata: ["job": "\(record.id)", "error": "\(error)"])
            }
        }
        logger.info("recovery finished", metadata: [
            "requeued": "\(report.requeued)", "finished": "\(report.finished)",
            "temporaries_removed": "\(report.temporariesRemoved)", "abandoned_claims": "\(report.abandonedClaims)", "lost": "\(report.lost)",
        ])
        return report
    }

    /// Applies a reloaded configuration. Site folders cannot move while running (the lock and
    /// every job live there): such a change is refused naming the key, and the old one stays.
    public func apply(_ new: SegvolConfig, file: String) throws(ConfigError) {
        if new.site != config.site {
            throw ConfigError(key: "site", message: "site folders cannot change on reload; restart the service to move the site", file: file)
        }
        let paths = SitePaths(new)
        for folder in paths.inboxFolders(new) where !paths.inboxFolders(config).contains(where: { $0.path == folder.path }) {
            do {
                try Durable.makeDirectory(folder.path, mode: 0o770)
                try watcher.watch(folder.path)
            } catch {
                throw ConfigError(key: "inbox.regions", message: "cannot watch \(folder.path): \(error)", file: file)
            }
        }
        config = new
        logger.logLevel = Logger.Level(rawValue: new.log.level) ?? logger.logLevel
        settler.quietFolder = .seconds(new.inbox.quietFolderSeconds)
        settler.quietFile = .seconds(new.inbox.quietFileSeconds)
        settler.stalePartialAfter = .seconds(new.inbox.stalePartialAfterSeconds)
        lastRescan = nil
        statusChanged = true
    }

    /// One turn of the loop: wake-ups, settling and claims, the running worker, the next job.
    public func tick(now: ContinuousClock.Instant = .now) {
        let woke = watcher.drain()
        checkDisk(now: now)
        let rescanDue = lastRescan.map { now - $0 >= .seconds(config.inbox.rescanIntervalSeconds) } ?? true
        let settleDue = settler.waiting > 0 && (lastSettleCheck.map { now - $0 >= settleCheckInterval } ?? true)
        if woke || rescanDue || settleDue {
            scanInboxes(now: now)
            lastSettleCheck = now
            if rescanDue || woke { lastRescan = rescanDue ? now : lastRescan }
        }
        pollWorker(now: now)
        if running == nil { startNextJob() }
        if lastPurge.map({ now - $0 >= .seconds(3600) }) ?? true {
            lastPurge = now
            do { try store.purge(archiveDays: config.retention.archiveDays, failedDays: config.retention.failedDays) } catch {
                logger.error("retention purge failed", metadata: ["error": "\(error.summary)"])
            }
        }
    }

    /// Full scan of every inbox: settles drops and claims those that are quiet.
    public func scanInboxes(now: ContinuousClock.Instant = .now) {
        var seen = Set<String>()
        for folder in store.paths.inboxFolders(config) {
            let names: [String]
            do { names = try listDirectory(folder.path) } catch {
                logOnce("cannot list an inbox folder; retrying at every rescan", key: "list \(folder.path) \(error.errno)",
                        ["region": "\(folder.region)", "error": "\(error.summary)"])
                continue
            }
            loggedErrors = loggedErrors.filter { !$0.hasPrefix("list \(folder.path) ") }
            for name in names where !isTemporaryName(name) {
                let path = folder.path + "/" + name
                if name.contains("\u{FFFD}") {
                    if reportedUnusable.insert(path).inserted {
                        logger.warning("drop ignored: its name is not valid UTF-8; rename it", metadata: ["event": "drop.ignored", "region": "\(folder.region)"])
                    }
                    continue
                }
                seen.insert(path)
                let sig: DropSignature
                do {
                    guard let inspected = try DropInspector.inspect(path) else { continue }
                    sig = inspected
                } catch {
                    logOnce("cannot inspect a drop", key: "inspect \(path) \(error.errno)", ["region": "\(folder.region)", "error": "\(error.summary)"])
                    continue
                }
                if sig.isFolder && sig.fileCount == 0 && sig.refusal == nil && !sig.inProgress { continue }
                var signature = sig
                switch settler.settle(path, sig, now: now) {
                case .waiting: continue
                case .settled: break
                case .stalePartial:
                    // The copy died: fail the drop (nothing opened) rather than measure a series
                    // that may miss instances, or wait forever.
                    if signature.refusal == nil {
                        signature.refusalCode = .incompleteTransfer
                        signature.refusal = "\(sig.partialFiles) partial file\(sig.partialFiles == 1 ? "" : "s") (*.part/*.tmp) in the folder did not change for inbox.stale_partial_after_s (\(Int(config.inbox.stalePartialAfterSeconds)) s); the copy into the inbox probably died. Finish the copy or delete the partial files, then move failed/<job>/drop/<name> back into the inbox"
                    }
                }
                guard !intakePaused else { continue }
                settler.forget(path)
                claim(path: path, region: folder.region, name: name, signature: signature)
            }
        }
        settler.retain(seen)
    }

    func claim(path: String, region: String, name: String, signature: DropSignature) {
        do {
            guard let record = try store.claim(path: path, region: region, dropName: name) else { return }
            statusChanged = true
            queueDirty = true
            if let refusal = signature.refusal {
                let reason = FailureReason(code: (signature.refusalCode ?? .unsafeInput).rawValue,
                                           message: "Refused: \(refusal). The drop was not opened.", stage: "intake", attempts: 0)
                try store.fail(record, reason: reason)
                failedCount += 1
                logger.warning("drop ignored", metadata: ["event": "drop.ignored", "job": "\(record.id)", "region": "\(region)", "stage": "intake", "code": "\(reason.code)"])
                return
            }
            logger.info("job claimed", metadata: ["job": "\(record.id)", "region": "\(region)", "stage": "intake", "files": "\(signature.fileCount)"])
        } catch {
            logOnce("claim failed; retrying at the next rescan", key: "claim \(path) \(error.errno)", ["region": "\(region)", "error": "\(error.summary)"])
        }
    }

    /// Logs an error once per `key` until it is cleared (a persistent fault is one line, not thousands).
    func logOnce(_ message: Logger.Message, key: String, _ metadata: Logger.Metadata) {
        if loggedErrors.insert(key).inserted { logger.error(message, metadata: metadata) }
    }

    var settleCheckInterval: Duration {
        let quiet = min(config.inbox.quietFileSeconds, config.inbox.quietFolderSeconds)
        return .seconds(min(2.0, max(0.1, quiet / 5)))
    }

    func checkDisk(now: ContinuousClock.Instant) {
        if let last = lastDiskCheck, now - last < .seconds(1) { return }
        lastDiskCheck = now
        guard let space = try? DiskSpace.of(store.paths.work) else { return }
        let low = space.isBelow(minFreePercent: config.disk.minFreePercent, minFreeMB: config.disk.minFreeMB)
        if low != intakePaused {
            intakePaused = low
            statusChanged = true
            if low {
                logger.warning("disk low: intake paused", metadata: ["event": "disk.low", "free_mb": "\(space.freeBytes / 1_048_576)",
                                                                    "free_percent": "\(Int(space.freePercent))"])
            } else {
                logger.notice("disk space back above the watermark: intake resumed", metadata: ["free_mb": "\(space.freeBytes / 1_048_576)"])
            }
        }
    }

    /// A one-line summary for STATUS= and the logs.
    public func statusLine() -> String {
        let queued = (try? store.activeJobs().count) ?? 0
        var parts = ["queue \(queued)", running.map { "running \($0.record.id)" } ?? "idle",
                     "done \(doneCount)", "failed \(failedCount)"]
        if let modelSummary { parts.append(modelSummary) }
        if intakePaused { parts.append("intake paused: disk low") }
        return parts.joined(separator: ", ")
    }

    /// True when nothing is waiting, settling or running (used by `serve --exit-when-idle`).
    public var isIdle: Bool {
        running == nil && settler.waiting == 0 && ((try? store.activeJobs().isEmpty) ?? false)
            && store.paths.inboxFolders(config).allSatisfy { ((try? listDirectory($0.path)) ?? []).allSatisfy(isTemporaryName) }
    }
}
