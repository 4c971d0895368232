import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What the start-up sweep found and did.
public struct RecoveryReport: Sendable, Equatable {
    /// Jobs put back in the queue (they were pending or running when the last instance stopped).
    public var requeued = 0
    /// Jobs whose outputs were already durable: finished now instead of being redone (I4).
    public var finished = 0
    /// Claims that never happened (record without input): removed; the drop is still in the inbox.
    public var abandonedClaims = 0
    /// Temporary files and folders removed (`.x.tmp-*`, `outbox/.tmp-*`).
    public var temporariesRemoved = 0
    /// Job folders without a readable record: moved to failed/ with `lost_record`.
    public var lost = 0
    public init() {}
}

extension JobStore {
    /// The start-up sweep, run while holding the lock and before READY=1: removes orphan
    /// temporaries and turns every job folder back into one state (pending, done or failed).
    /// `finishing` runs for each job finished here before its input is archived (reports).
    public func recover(deleteInput: Bool, now: Date = Date(), finishing: (JobRecord) -> Void = { _ in }) throws(SystemCallError) -> RecoveryReport {
        var report = RecoveryReport()
        // Temporaries in the outbox and the other output folders (never in the inbox: those are the writer's).
        for dir in [paths.outbox, paths.failed, paths.archive, paths.work, paths.reports, paths.state] {
            for name in try listDirectory(dir) where name.hasPrefix(".") && (name.hasPrefix(".tmp-") || name.contains(".tmp-")) {
                try Durable.removeTree(dir + "/" + name)
                report.temporariesRemoved += 1
            }
        }
        for name in try listDirectory(paths.work) where JobRecord.isJobID(name) {
            let dir = workDir(name)
            for entry in try listDirectory(dir) where entry.hasPrefix(".") && entry.contains(".tmp-") {
                try Durable.removeTree(dir + "/" + entry)
                report.temporariesRemoved += 1
            }
            let dropEntries = (try? listDirectory(dir + "/drop")) ?? []
            guard var record = load(dir: dir) else {
                if dropEntries.isEmpty {
                    try Durable.removeTree(dir)
                    report.abandonedClaims += 1
                } else {
                    let reason = FailureReason(code: SpoolError.Code.lostRecord.rawValue,
                                               message: "The job's record was lost in a crash; the input is kept here untouched. Move it back into an inbox folder to process it again.",
                                               stage: "recovery", attempts: 0, failedAt: now)
                    try Durable.write(encodeJSON(reason), to: dir + "/reason.json")
                    try Durable.rename(dir, paths.failed + "/" + name)
                    report.lost += 1
                }
                continue
            }
            switch record.state {
            case .claiming where dropEntries.isEmpty:
                try Durable.removeTree(dir)
                report.abandonedClaims += 1
            case .failed:
                try Durable.rename(dir, paths.failed + "/" + name)
                report.finished += 1
            case .done:
                try complete(record, deleteInput: deleteInput, now: now)
                report.finished += 1
            default:
                if let pid = record.workerPID { killLeftoverWorker(pid: pid, job: name) }
                if outputsComplete(name) {
                    finishing(record)
                    try complete(record, deleteInput: deleteInput, now: now)
                    report.finished += 1
                } else {
                    if (try lstatOrNil(outboxDir(name))) != nil { try Durable.removeTree(outboxDir(name)) }
                    try Durable.removeTree(outboxTemp(name))
                    try? Durable.removeTree(dir + "/result.json")
                    record.state = .pending
                    try save(record)
                    report.requeued += 1
                }
            }
        }
        try Durable.syncDirectory(paths.work)
        try Durable.syncDirectory(paths.outbox)
        return report
    }

    /// Kills a worker that outlived its daemon (it normally exits on its own when the daemon's
    /// pipe closes), identified by its command line naming the job, and waits for it to go.
    func killLeftoverWorker(pid: Int32, job: String) {
        guard pid > 1, let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
              String(decoding: cmdline, as: UTF8.self).contains(job) else { return }
        kill(pid, SIGKILL)
        for _ in 0..<200 {
            if kill(pid, 0) != 0 { break }
            if (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.contains(") Z ") == true { break }
            usleep(10_000)
        }
    }

    /// Deletes archived inputs and failed jobs older than their retention (0 days keeps them).
    /// Returns how many job folders were removed.
    @discardableResult
    public func purge(archiveDays: Double, failedDays: Double, now: Date = Date()) throws(SystemCallError) -> Int {
        var removed = 0
        for (dir, days) in [(paths.archive, archiveDays), (paths.failed, failedDays)] where days > 0 {
            let cutoff = now.timeIntervalSince1970 - days * 86_400
            for name in try listDirectory(dir) where JobRecord.isJobID(name) {
                let finished = load(dir: dir + "/" + name).flatMap { $0.finishedAt ?? $0.claimedAt }
                if let finished, finished < cutoff {
                    try Durable.removeTree(dir + "/" + name)
                    removed += 1
                }
            }
            if removed > 0 { try Durable.syncDirectory(dir) }
        }
        return removed
    }
}
