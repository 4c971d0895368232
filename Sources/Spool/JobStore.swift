import Configuration
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The site's folders and every job transition, each one a durable write or rename.
///
/// Claim: `job.json` (state claiming) is written into a new `work/<job>/`, then the drop is
/// renamed into `work/<job>/drop/<name>` (the atomic claim), then the record becomes pending.
/// Done: outputs are durable in `outbox/<job>/` (the worker renames its `.tmp-<job>` folder into
/// place), then `work/<job>` is renamed to `archive/<job>` or deleted. Failed: `reason.json` is
/// written, then `work/<job>` is renamed to `failed/<job>`. Every step survives a crash:
/// `recover()` turns whatever it finds back into one of the states.
public struct JobStore: Sendable {
    public let paths: SitePaths

    public init(paths: SitePaths) { self.paths = paths }

    /// Creates the site's folders (and one inbox per watched region) if missing.
    public func prepareFolders(inboxes: [String]) throws(SystemCallError) {
        for dir in [paths.root, paths.inbox, paths.work, paths.outbox, paths.failed, paths.archive, paths.reports, paths.state] {
            try Durable.makeDirectory(dir)
        }
        for dir in inboxes { try Durable.makeDirectory(dir, mode: 0o770) }
    }

    public func workDir(_ id: String) -> String { paths.work + "/" + id }
    public func dropPath(_ record: JobRecord) -> String { workDir(record.id) + "/drop/" + record.dropName }
    /// The folder the worker writes into before renaming it to `outbox/<job>`.
    public func outboxTemp(_ id: String) -> String { paths.outbox + "/.tmp-" + id }
    public func outboxDir(_ id: String) -> String { paths.outbox + "/" + id }

    /// Claims the drop at `path` by an atomic rename; nil when it vanished before the rename.
    public func claim(path: String, region: String, dropName: String, now: Date = Date()) throws(SystemCallError) -> JobRecord? {
        var record = JobRecord(id: JobRecord.newID(now: now), region: region, dropName: dropName,
                               state: .claiming, claimedAt: now.timeIntervalSince1970)
        let dir = workDir(record.id)
        try sys("mkdir", dir) { mkdir(dir, 0o750) }
        try sys("mkdir", dir + "/drop") { mkdir(dir + "/drop", 0o750) }
        try save(record)
        do {
            try Durable.rename(path, dir + "/drop/" + dropName)
        } catch where error.errno == ENOENT {
            try Durable.removeTree(dir)
            return nil
        }
        record.state = .pending
        try save(record)
        return record
    }

    /// Writes `work/<job>/job.json` durably.
    public func save(_ record: JobRecord) throws(SystemCallError) {
        try Durable.write(encodeJSON(record), to: workDir(record.id) + "/job.json")
    }

    /// Reads a job record from `dir/job.json`; nil if absent or unreadable.
    public func load(dir: String) -> JobRecord? {
        guard let data = FileManager.default.contents(atPath: dir + "/job.json") else { return nil }
        return try? JSONDecoder().decode(JobRecord.self, from: data)
    }

    /// Jobs in work/ (pending or running), oldest claim first.
    public func activeJobs() throws(SystemCallError) -> [JobRecord] {
        try listDirectory(paths.work).filter(JobRecord.isJobID).compactMap { load(dir: workDir($0)) }
            .filter { $0.state == .pending || $0.state == .running }
            .sorted { ($0.claimedAt, $0.id) < ($1.claimedAt, $1.id) }
    }

    /// True when the job's outputs are complete and durable (`outbox/<job>/manifest.json`).
    public func outputsComplete(_ id: String) -> Bool {
        (try? lstatOrNil(outboxDir(id) + "/manifest.json"))??.isRegular ?? false
    }

    /// Finishes a job whose outputs are durable: its input goes to archive/<job>/ or is deleted.
    public func complete(_ record: JobRecord, deleteInput: Bool, now: Date = Date()) throws(SystemCallError) {
        precondition(outputsComplete(record.id), "complete() before the outputs are durable")
        var done = record
        done.state = .done
        done.finishedAt = now.timeIntervalSince1970
        // A zip drop's unpacked copy (the worker removes it; a crash may leave it) is not archived.
        try? Durable.removeTree(workDir(record.id) + "/unzipped")
        if deleteInput {
            // The record goes first so a crash mid-delete is finished by recover().
            try save(done)
            try Durable.removeTree(workDir(record.id))
            try Durable.syncDirectory(paths.work)
        } else {
            try save(done)
            try Durable.rename(workDir(record.id), paths.archive + "/" + record.id)
        }
    }

    /// Fails a job: reason.json, then the whole job folder (untouched input included) moves to failed/.
    public func fail(_ record: JobRecord, reason: FailureReason, now: Date = Date()) throws(SystemCallError) {
        var failed = record
        failed.state = .failed
        failed.finishedAt = now.timeIntervalSince1970
        failed.lastFailure = reason.message
        try Durable.write(encodeJSON(reason), to: workDir(record.id) + "/reason.json")
        try save(failed)
        try? Durable.removeTree(outboxTemp(record.id))
        try? Durable.removeTree(workDir(record.id) + "/result.json")
        try? Durable.removeTree(workDir(record.id) + "/unzipped")
        try Durable.rename(workDir(record.id), paths.failed + "/" + record.id)
    }

    /// Counts for STATUS= and `segvol status`.
    public func counts() -> (active: Int, done: Int, failed: Int) {
        func count(_ dir: String) -> Int { ((try? listDirectory(dir)) ?? []).filter(JobRecord.isJobID).count }
        return (count(paths.work), count(paths.outbox), count(paths.failed))
    }
}

extension SitePaths {
    /// The site's pseudonym key (`state/pseudonym.key`, 32 random bytes, mode 0600): the HMAC key
    /// of the patient pseudonyms in the reports. Created once by the daemon; never rotate it, or
    /// the same patient gets a new pseudonym.
    public var pseudonymKey: String { state + "/pseudonym.key" }
}

extension JobStore {
    /// Job ids in a site folder (work/, outbox/, failed/, archive/), oldest first.
    public func jobIDs(in folder: String) -> [String] {
        ((try? listDirectory(folder)) ?? []).filter(JobRecord.isJobID)
    }

    /// reason.json of a failed job.
    public func failureReason(_ id: String) -> FailureReason? {
        guard let data = FileManager.default.contents(atPath: paths.failed + "/" + id + "/reason.json") else { return nil }
        return try? JSONDecoder().decode(FailureReason.self, from: data)
    }
}
