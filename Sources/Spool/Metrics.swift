import Foundation

/// The Prometheus text exposition of the daemon's state, for node_exporter's textfile collector.
public struct SpoolMetrics: Sendable, Equatable {
    public var queued: Int
    public var running: Int
    public var doneTotal: Int
    public var failedTotal: Int
    public var intakePaused: Bool
    public var diskFreeBytes: UInt64
    public var updatedAt: Double

    /// The file's text (format 0.0.4: HELP, TYPE, one sample per line).
    public var text: String {
        func metric(_ name: String, _ type: String, _ help: String, _ value: String) -> String {
            "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
        }
        return metric("segvol_queue_jobs", "gauge", "Jobs claimed and waiting or running.", "\(queued)")
            + metric("segvol_running_jobs", "gauge", "Jobs running in a worker now.", "\(running)")
            + metric("segvol_jobs_done_total", "counter", "Jobs finished since the daemon started.", "\(doneTotal)")
            + metric("segvol_jobs_failed_total", "counter", "Jobs failed or refused since the daemon started.", "\(failedTotal)")
            + metric("segvol_intake_paused", "gauge", "1 while free disk space is below the watermark.", intakePaused ? "1" : "0")
            + metric("segvol_disk_free_bytes", "gauge", "Free bytes on the work file system.", "\(diskFreeBytes)")
            + metric("segvol_metrics_updated_seconds", "gauge", "When this file was written (Unix time).", String(format: "%.3f", updatedAt))
    }
}

extension SpoolEngine {
    /// Current metrics.
    public func metrics() -> SpoolMetrics {
        SpoolMetrics(queued: (try? store.activeJobs().count) ?? 0, running: running == nil ? 0 : 1,
                     doneTotal: doneCount, failedTotal: failedCount, intakePaused: intakePaused,
                     diskFreeBytes: (try? DiskSpace.of(store.paths.work).freeBytes) ?? 0, updatedAt: Date().timeIntervalSince1970)
    }

    /// Rewrites `metrics.textfile` durably (node_exporter never sees a partial file); logs a
    /// failure once. Does nothing when the key is "".
    public func writeMetrics() {
        let path = config.metrics.textfile
        guard !path.isEmpty else { return }
        do {
            try Durable.write(Array(metrics().text.utf8), to: path)
            loggedErrors.remove("metrics")
        } catch {
            logOnce("cannot write the metrics textfile", key: "metrics", ["error": "\(error.summary)"])
        }
    }
}
