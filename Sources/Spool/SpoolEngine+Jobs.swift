import Configuration
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// What a worker leaves in `work/<job>/result.json` when it refuses an input (exit 65) or
/// cannot write (exit 73).
public struct WorkerResult: Codable, Sendable {
    public var code: String
    public var message: String
    public var stage: String
    public init(code: String, message: String, stage: String) {
        self.code = code
        self.message = message
        self.stage = stage
    }
}

extension SpoolEngine {
    /// Starts the oldest pending job whose back-off has passed.
    func startNextJob() {
        let now = Date().timeIntervalSince1970
        // Reading every job record is only needed when the queue changed or a back-off expired.
        guard queueDirty || now >= nextBackoffExpiry else { return }
        guard let jobs = try? store.activeJobs() else { return }
        let pending = jobs.filter { $0.state == .pending }
        guard var record = pending.first(where: { $0.notBefore <= now }) else {
            queueDirty = false
            nextBackoffExpiry = pending.map(\.notBefore).min() ?? .infinity
            return
        }
        queueDirty = true
        record.state = .running
        record.attempts += 1
        let arguments = ["worker", "--job", store.workDir(record.id), "--outbox", store.paths.outbox,
                         "--memory-limit-mb", "\(config.worker.memoryLimitMB)", "--cpu-limit-s", "\(config.worker.cpuLimitSeconds)",
                         "--log-level", config.log.level, "--log-target", config.log.target,
                         "--model-dir", modelDirectoryForJob?() ?? config.model.dir, "--pseudonym-key", store.paths.pseudonymKey,
                         "--zip-max-mb", "\(config.zip.maxUncompressedMB)", "--zip-max-entries", "\(config.zip.maxEntries)",
                         "--zip-max-ratio", "\(config.zip.maxRatio)", "--series-index", store.paths.seriesIndex,
                         "--max-window-pixels", "\(config.model.maxWindowPixels)"]
        do {
            try store.save(record)
            let process = try WorkerProcess(executable: workerExecutable, arguments: arguments,
                                            timeLimit: .seconds(config.worker.timeLimitSeconds))
            record.workerPID = process.pid
            try? store.save(record)
            running = (record, process)
            statusChanged = true
            logger.info("job started", metadata: ["job": "\(record.id)", "region": "\(record.region)", "stage": "worker", "attempt": "\(record.attempts)"])
        } catch {
            logger.error("cannot start a worker", metadata: ["job": "\(record.id)", "error": "\(error.summary)"])
            retryOrFail(record, code: "worker_failed", message: "The worker could not be started (\(error)).", stage: "worker")
        }
    }

    /// Checks the running worker and finishes, retries or fails its job once it has ended.
    func pollWorker(now: ContinuousClock.Instant) {
        guard let (record, process) = running, let outcome = process.poll(now: now) else { return }
        running = nil
        statusChanged = true
        var finished = record
        finished.workerPID = nil
        switch outcome {
        case .exited(WorkerExit.done) where store.outputsComplete(record.id):
            loggedErrors.remove("no_space \(record.id)")
            var extra: Logger.Metadata = [:]
            do { extra = try finishing?(finished) ?? [:] } catch {
                // The outputs are fine; only reports/ could not be written (full disk, permissions).
                // Like a full disk, that is nobody's input's fault: the job waits (attempt not
                // counted), logged once, and is finished again (the worker reuses its outputs).
                var waiting = finished
                waiting.state = .pending
                waiting.attempts = max(0, record.attempts - 1)
                waiting.notBefore = Date().timeIntervalSince1970 + config.worker.backoffMaxSeconds.clamped(to: 0...60)
                waiting.lastFailure = "report_failed: the reports could not be written (\(error)); retrying"
                try? store.save(waiting)
                queueDirty = true
                logOnce("cannot write the reports of a finished job; it waits and is retried", key: "report \(record.id)",
                        ["job": "\(record.id)", "region": "\(record.region)", "stage": "report", "code": "report_failed", "error": "\(error)"])
                return
            }
            loggedErrors.remove("report \(record.id)")
            do {
                try store.complete(finished, deleteInput: config.retention.processed == "delete")
                doneCount += 1
                let base: Logger.Metadata = ["event": "job.done", "job": "\(record.id)", "region": "\(record.region)", "stage": "done", "attempts": "\(record.attempts)"]
                logger.info("job done", metadata: base.merging(extra) { a, _ in a })
            } catch {
                logger.error("cannot archive a finished job; it stays in work/ and is finished on restart", metadata: ["job": "\(record.id)", "error": "\(error.summary)"])
            }
        case .exited(WorkerExit.badInput):
            let result = readResult(record.id)
            fail(finished, FailureReason(code: result?.code ?? "bad_input", message: result?.message ?? "The input was refused.",
                                         stage: result?.stage ?? "convert", attempts: record.attempts))
        case .exited(WorkerExit.cannotWrite) where readResult(record.id)?.code == "no_space":
            // A full disk is nobody's input's fault: the job waits (attempt not counted) and
            // resumes by itself when space returns; logged once per job, not per retry.
            var waiting = finished
            waiting.state = .pending
            waiting.attempts = max(0, record.attempts - 1)
            waiting.notBefore = Date().timeIntervalSince1970 + config.worker.backoffMaxSeconds.clamped(to: 0...60)
            waiting.lastFailure = "no_space: the outputs did not fit on the disk; waiting for space"
            try? Durable.removeTree(store.workDir(record.id) + "/result.json")
            try? store.save(waiting)
            queueDirty = true
            logOnce("no space for a job's outputs; it waits and resumes when space returns", key: "no_space \(record.id)",
                    ["job": "\(record.id)", "region": "\(record.region)", "stage": "write", "code": "no_space"])
        case .exited(WorkerExit.cannotWrite):
            let result = readResult(record.id)
            retryOrFail(finished, code: result?.code ?? "write_failed",
                        message: result?.message ?? "The outputs could not be written (disk full or I/O error).", stage: result?.stage ?? "write")
        case .timedOut:
            retryOrFail(finished, code: "worker_timeout",
                        message: "Processing took longer than worker.time_limit_s (\(config.worker.timeLimitSeconds) s) and was stopped.", stage: "worker")
        case .signalled(let sig):
            let what = sig == SIGXCPU ? "exceeded worker.cpu_limit_s" : "crashed (signal \(sig); a memory limit of worker.memory_limit_mb shows as a crash)"
            retryOrFail(finished, code: sig == SIGXCPU ? "worker_cpu_limit" : "worker_crashed", message: "The worker \(what).", stage: "worker")
        case .exited(let status):
            retryOrFail(finished, code: "worker_failed", message: "The worker ended with status \(status) without complete outputs.", stage: "worker")
        }
    }

    /// Re-queues with exponential back-off, or fails the job after `worker.max_attempts` runs.
    func retryOrFail(_ record: JobRecord, code: String, message: String, stage: String) {
        var next = record
        next.state = .pending
        next.workerPID = nil
        next.lastFailure = "\(code): \(message)"
        if record.attempts >= config.worker.maxAttempts {
            fail(next, FailureReason(code: code, message: message + " Failed after \(record.attempts) attempts; the input is kept unchanged.",
                                     stage: stage, attempts: record.attempts))
            return
        }
        let delay = min(config.worker.backoffMaxSeconds, config.worker.backoffSeconds * pow(2, Double(max(0, record.attempts - 1))))
        next.notBefore = Date().timeIntervalSince1970 + delay
        try? Durable.removeTree(store.outboxTemp(record.id))
        try? Durable.removeTree(store.workDir(record.id) + "/result.json")
        do { try store.save(next) } catch {
            logger.error("cannot save a job record", metadata: ["job": "\(record.id)", "error": "\(error.summary)"])
        }
        queueDirty = true
        logger.warning("job attempt failed; retrying after back-off", metadata: [
            "job": "\(record.id)", "region": "\(record.region)", "stage": "\(stage)", "code": "\(code)",
            "attempt": "\(record.attempts)", "retry_in_s": "\(delay)",
        ])
    }

    func fail(_ record: JobRecord, _ reason: FailureReason) {
        do {
            try store.fail(record, reason: reason)
            failedCount += 1
            logger.error("job failed", metadata: ["event": "job.failed", "job": "\(record.id)", "region": "\(record.region)",
                                                  "stage": "\(reason.stage)", "code": "\(reason.code)", "attempts": "\(reason.attempts)"])
        } catch {
            logger.error("cannot move a failed job to failed/; it is retried after restart", metadata: ["job": "\(record.id)", "error": "\(error.summary)"])
        }
    }

    func readResult(_ id: String) -> WorkerResult? {
        guard let data = FileManager.default.contents(atPath: store.workDir(id) + "/result.json") else { return nil }
        return try? JSONDecoder().decode(WorkerResult.self, from: data)
    }

    /// Graceful stop: lets the running job finish within `worker.stop_timeout_s`, otherwise kills
    /// it and re-queues it (the interrupted attempt does not count). `wait` sleeps between polls.
    public func stop(wait: (Duration) async -> Void) async {
        guard let (record, process) = running else { return }
        let limit = ContinuousClock.now + .seconds(config.worker.stopTimeoutSeconds)
        while process.poll() == nil && ContinuousClock.now < limit { await wait(.milliseconds(50)) }
        if process.outcome == nil {
            process.terminate()
            running = nil
            var requeued = record
            requeued.state = .pending
            requeued.workerPID = nil
            requeued.attempts = max(0, record.attempts - 1)
            try? Durable.removeTree(store.outboxTemp(record.id))
            try? store.save(requeued)
            logger.notice("running job re-queued for the next start", metadata: ["job": "\(record.id)", "region": "\(record.region)"])
        } else {
            pollWorker(now: .now)
        }
    }
}

extension Double {
    func clamped(to range: ClosedRange<Double>) -> Double { Swift.min(range.upperBound, Swift.max(range.lowerBound, self)) }
}
