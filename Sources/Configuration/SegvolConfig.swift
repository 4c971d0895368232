/// The daemon's whole configuration: one `Codable` value, read from TOML by `ConfigLoader`,
/// validated once, then passed by value to the spool, the worker and the systemd glue.
///
/// Every key is documented in Config/segvol.toml (the shipped default) and in docs/operations.md.
/// A key left out of the file takes the default written here; an unknown key is an error.
/// Durations are seconds (fractions allowed), sizes are MiB.
public struct SegvolConfig: Codable, Sendable, Equatable {
    public var site = Site()
    public var inbox = Inbox()
    public var worker = Worker()
    public var retention = Retention()
    public var disk = Disk()
    public var log = Log()
    public var model = Model()
    public var metrics = Metrics()
    public var reports = Reports()
    public var retrain = Retrain()
    public var zip = Zip()

    public init() {}

    /// Where the site's folders are. Relative folder names are resolved against `root`.
    /// inbox, work, outbox, failed and archive must be on one file system (claims are renames).
    public struct Site: Codable, Sendable, Equatable {
        /// The site's root folder (absolute).
        public var root = "/var/lib/segvol"
        /// Drop folders, one sub-folder per region: `inbox/<region>/`.
        public var inbox = "inbox"
        /// Claimed jobs, one folder each: `work/<job>/`.
        public var work = "work"
        /// Finished outputs: `outbox/<job>/`.
        public var outbox = "outbox"
        /// Refused or failed jobs with their untouched input and reason.json.
        public var failed = "failed"
        /// Processed inputs kept for `retention.archive_days`.
        public var archive = "archive"
        /// Cumulative CSV reports.
        public var reports = "reports"
        /// Daemon state: the lock file and status.json; the dataset store is `state/dataset/`.
        public var state = "state"
        /// Annotated cases for retraining: `annotations/<region>/<case>/` (docs/operations.md).
        public var annotations = "annotations"
        public init() {}
    }

    /// Which inbox folders are watched and when a drop counts as settled.
    public struct Inbox: Codable, Sendable, Equatable {
        /// One watched folder per region name: `inbox/<region>/`.
        public var regions = ["thigh", "calf", "abdomen"]
        /// Also watch `inbox/auto/` (region from BodyPartExamined / description).
        public var auto = false
        /// Quiet time for a folder drop (DICOM series): no change in size, mtime or file count.
        public var quietFolderSeconds = 30.0
        /// Quiet time for a single-file drop.
        public var quietFileSeconds = 10.0
        /// Full rescan period (inotify misses network file systems).
        public var rescanIntervalSeconds = 60.0
        /// A folder drop holding a `*.part`/`*.tmp` file waits; once nothing in it has changed for
        /// this long the transfer is taken for dead and the drop fails with `incomplete_transfer`.
        public var stalePartialAfterSeconds = 3600.0
        public init() {}
        enum CodingKeys: String, CodingKey {
            case regions, auto
            case quietFolderSeconds = "quiet_folder_s", quietFileSeconds = "quiet_file_s"
            case rescanIntervalSeconds = "rescan_interval_s"
            case stalePartialAfterSeconds = "stale_partial_after_s"
        }
    }

    /// Limits of the `segvol worker` child that parses and processes one job.
    public struct Worker: Codable, Sendable, Equatable {
        /// Address-space limit (RLIMIT_AS) in MiB.
        public var memoryLimitMB = 16384
        /// CPU-time limit (RLIMIT_CPU) in seconds.
        public var cpuLimitSeconds = 3600
        /// Wall-clock deadline; the daemon kills the worker when it is passed.
        public var timeLimitSeconds = 1800.0
        /// Attempts after a crash, a kill or a limit before the job fails (bad input fails at once).
        public var maxAttempts = 3
        /// First retry delay; doubled per attempt up to `backoff_max_s`.
        public var backoffSeconds = 30.0
        public var backoffMaxSeconds = 600.0
        /// On SIGTERM, how long a running job may finish before it is killed and re-queued.
        public var stopTimeoutSeconds = 60.0
        public init() {}
        enum CodingKeys: String, CodingKey {
            case memoryLimitMB = "memory_limit_mb", cpuLimitSeconds = "cpu_limit_s"
            case timeLimitSeconds = "time_limit_s", maxAttempts = "max_attempts"
            case backoffSeconds = "backoff_s", backoffMaxSeconds = "backoff_max_s"
            case stopTimeoutSeconds = "stop_timeout_s"
        }
    }

    /// What happens to inputs and failures over time.
    public struct Retention: Codable, Sendable, Equatable {
        /// "archive" keeps a processed input in archive/<job>/; "delete" removes it once done.
        public var processed = "archive"
        /// Days an archived input is kept; 0 keeps it forever.
        public var archiveDays = 30.0
        /// Days a failed job is kept in failed/; 0 keeps it forever.
        public var failedDays = 0.0
        public init() {}
        enum CodingKeys: String, CodingKey {
            case processed, archiveDays = "archive_days", failedDays = "failed_days"
        }
    }

    /// The free-space watermark below which intake pauses (either threshold pauses it).
    public struct Disk: Codable, Sendable, Equatable {
        public var minFreePercent = 10.0
        public var minFreeMB = 2048
        public init() {}
        enum CodingKeys: String, CodingKey {
            case minFreePercent = "min_free_percent", minFreeMB = "min_free_mb"
        }
    }

    /// Logging.
    public struct Log: Codable, Sendable, Equatable {
        /// trace, debug, info, notice, warning, error, critical.
        public var level = "info"
        /// "auto" (journald when stderr is the journal, per JOURNAL_STREAM), "journal" or "stderr".
        public var target = "auto"
        public init() {}
    }

    /// The segmentation model.
    public struct Model: Codable, Sendable, Equatable {
        /// Folder with plan.json and weights.safetensors. "" finds one automatically
        /// (SEGVOL_MODEL_DIR, /var/lib/segvol/models/current, the installed default); a path is
        /// used as given. Without a model, jobs are converted and not segmented.
        public var dir = ""
        /// Most pixels of the network's input window, which covers each profile slice whole; a
        /// wider scan is refused with `window_too_large` (never cropped). 640 × 640.
        public var maxWindowPixels = 409_600
        public init() {}
        enum CodingKeys: String, CodingKey { case dir, maxWindowPixels = "max_window_pixels" }
    }
}

extension SegvolConfig {
    /// Prometheus metrics for node_exporter's textfile collector.
    public struct Metrics: Codable, Sendable, Equatable {
        /// Path of the `.prom` file, rewritten atomically on every change; "" writes none.
        public var textfile = ""
        public init() {}
    }
}

extension SegvolConfig {
    /// The cumulative CSV reports in `reports/`.
    public struct Reports: Codable, Sendable, Equatable {
        /// Write the operator-given drop name into the reports (false leaves the column empty).
        public var dropNames = true
        public init() {}
        enum CodingKeys: String, CodingKey { case dropNames = "drop_names" }
    }
}

extension SegvolConfig {
    /// Limits on unpacking a zip drop (in the worker); over any of them the drop fails with
    /// `zip_too_large` before anything is unpacked.
    public struct Zip: Codable, Sendable, Equatable {
        /// Total uncompressed size of all entries, MiB.
        public var maxUncompressedMB = 8192
        /// Entries (files and folders) in the archive.
        public var maxEntries = 100_000
        /// Uncompressed ÷ compressed size of one entry (entries under 1 MiB are exempt).
        public var maxRatio = 200.0
        public init() {}
        enum CodingKeys: String, CodingKey {
            case maxUncompressedMB = "max_uncompressed_mb", maxEntries = "max_entries", maxRatio = "max_ratio"
        }
    }
}

/// The regions the daemon knows (each has a resampling profile).
public let knownRegions = ["thigh", "calf", "abdomen"]
/// The log levels `log.level` accepts.
public let knownLogLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
