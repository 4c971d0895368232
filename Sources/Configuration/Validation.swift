import Foundation

extension ConfigLoader {
    /// Range and consistency checks, each naming its key. Run once at start-up, on reload and by
    /// `segvol check-config`.
    public static func validate(_ c: SegvolConfig, file: String) throws(ConfigError) {
        func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(key: key, message: message, file: file) }

        guard c.site.root.hasPrefix("/") else { throw fail("site.root", "must be an absolute path") }
        let folders: [(String, String)] = [
            ("site.inbox", c.site.inbox), ("site.work", c.site.work), ("site.outbox", c.site.outbox),
            ("site.failed", c.site.failed), ("site.archive", c.site.archive),
            ("site.reports", c.site.reports), ("site.state", c.site.state),
        ]
        var seen: [String: String] = [:]
        for (key, value) in folders {
            guard !value.isEmpty, !value.split(separator: "/").contains("..") else {
                throw fail(key, "must be a folder name or an absolute path without '..'")
            }
            let resolved = SitePaths.resolve(value, root: c.site.root)
            if let other = seen[resolved] { throw fail(key, "is the same folder as \(other)") }
            seen[resolved] = key
        }

        guard !c.inbox.regions.isEmpty || c.inbox.auto else {
            throw fail("inbox.regions", "no inbox is watched; list at least one region or set inbox.auto = true")
        }
        var regionSet = Set<String>()
        for (index, region) in c.inbox.regions.enumerated() {
            guard knownRegions.contains(region) else {
                throw fail("inbox.regions[\(index)]", "\"\(region)\" is not a region; choose from \(knownRegions.joined(separator: ", "))")
            }
            guard regionSet.insert(region).inserted else { throw fail("inbox.regions[\(index)]", "\"\(region)\" is listed twice") }
        }
        try positive(c.inbox.quietFolderSeconds, "inbox.quiet_folder_s", max: 86_400)
        try positive(c.inbox.quietFileSeconds, "inbox.quiet_file_s", max: 86_400)
        try positive(c.inbox.rescanIntervalSeconds, "inbox.rescan_interval_s", max: 86_400)
        try positive(c.inbox.stalePartialAfterSeconds, "inbox.stale_partial_after_s", max: 30 * 86_400)
        guard c.inbox.stalePartialAfterSeconds >= c.inbox.quietFolderSeconds else {
            throw fail("inbox.stale_partial_after_s", "must be at least inbox.quiet_folder_s (\(c.inbox.quietFolderSeconds) s)")
        }

        guard (1...1_048_576).contains(c.zip.maxUncompressedMB) else { throw fail("zip.max_uncompressed_mb", "must be between 1 and 1048576 (MiB)") }
        guard (1...1_000_000).contains(c.zip.maxEntries) else { throw fail("zip.max_entries", "must be between 1 and 1000000") }
        guard c.zip.maxRatio.isFinite, c.zip.maxRatio >= 1 else { throw fail("zip.max_ratio", "must be a number of at least 1") }

        guard c.worker.memoryLimitMB >= 256 else { throw fail("worker.memory_limit_mb", "must be at least 256 (MiB)") }
        guard c.worker.cpuLimitSeconds >= 1 else { throw fail("worker.cpu_limit_s", "must be at least 1") }
        try positive(c.worker.timeLimitSeconds, "worker.time_limit_s", max: 7 * 86_400)
        guard (1...100).contains(c.worker.maxAttempts) else { throw fail("worker.max_attempts", "must be between 1 and 100") }
        guard c.worker.backoffSeconds >= 0, c.worker.backoffSeconds.isFinite else { throw fail("worker.backoff_s", "must be 0 or more") }
        guard c.worker.backoffMaxSeconds >= c.worker.backoffSeconds, c.worker.backoffMaxSeconds.isFinite else {
            throw fail("worker.backoff_max_s", "must be at least worker.backoff_s")
        }
        guard c.worker.stopTimeoutSeconds >= 0, c.worker.stopTimeoutSeconds.isFinite else { throw fail("worker.stop_timeout_s", "must be 0 or more") }

        guard ["archive", "delete"].contains(c.retention.processed) else {
            throw fail("retention.processed", "must be \"archive\" or \"delete\"")
        }
        guard c.retention.archiveDays >= 0, c.retention.archiveDays.isFinite else { throw fail("retention.archive_days", "must be 0 (forever) or more") }
        guard c.retention.failedDays >= 0, c.retention.failedDays.isFinite else { throw fail("retention.failed_days", "must be 0 (forever) or more") }

        guard (0..<100).contains(c.disk.minFreePercent) else { throw fail("disk.min_free_percent", "must be from 0 to below 100") }
        guard c.disk.minFreeMB >= 0 else { throw fail("disk.min_free_mb", "must be 0 or more") }

        guard knownLogLevels.contains(c.log.level) else {
            throw fail("log.level", "\"\(c.log.level)\" is not a level; choose from \(knownLogLevels.joined(separator: ", "))")
        }
        guard ["auto", "journal", "stderr"].contains(c.log.target) else {
            throw fail("log.target", "must be \"auto\", \"journal\" or \"stderr\"")
        }
        guard c.model.dir.isEmpty || c.model.dir.hasPrefix("/") else { throw fail("model.dir", "must be \"\" (find one) or an absolute path") }
        guard (16_384...16_777_216).contains(c.model.maxWindowPixels) else {
            throw fail("model.max_window_pixels", "must be from 16384 (128 × 128) to 16777216 (4096 × 4096)")
        }
        guard c.metrics.textfile.isEmpty || (c.metrics.textfile.hasPrefix("/") && c.metrics.textfile.hasSuffix(".prom")) else {
            throw fail("metrics.textfile", "must be \"\" (off) or an absolute path ending in .prom")
        }
        try validateRetrain(c, file: file)

        func positive(_ value: Double, _ key: String, max: Double) throws(ConfigError) {
            guard value.isFinite, value > 0, value <= max else { throw fail(key, "must be a number of seconds above 0 and at most \(Int(max))") }
        }
    }

    /// Checks against the file system (used by `check-config` and at start-up): the site's
    /// movable folders must share one file system, since claims and archiving are renames.
    public static func checkFileSystem(_ c: SegvolConfig, file: String) throws(ConfigError) {
        let paths = SitePaths(c)
        var device: (String, UInt64)?
        for (key, path) in [("site.inbox", paths.inbox), ("site.work", paths.work), ("site.outbox", paths.outbox),
                            ("site.failed", paths.failed), ("site.archive", paths.archive)] {
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw ConfigError(key: key, message: "\(path) exists but is not a folder", file: file) }
            if let (firstKey, dev) = device, dev != UInt64(st.st_dev) {
                throw ConfigError(key: key, message: "\(path) is on another file system than \(firstKey); claims are renames, so put them on one", file: file)
            }
            if device == nil { device = (key, UInt64(st.st_dev)) }
        }
    }
}

/// The site's folders as absolute paths.
public struct SitePaths: Sendable, Equatable {
    public var root, inbox, work, outbox, failed, archive, reports, state: String
    /// `annotations/<region>/<case>/` for retraining.
    public var annotations: String
    /// The dataset store of accepted annotations (`state/dataset`).
    public var dataset: String { state + "/dataset" }

    public init(_ c: SegvolConfig) {
        root = c.site.root
        inbox = Self.resolve(c.site.inbox, root: root)
        work = Self.resolve(c.site.work, root: root)
        outbox = Self.resolve(c.site.outbox, root: root)
        failed = Self.resolve(c.site.failed, root: root)
        archive = Self.resolve(c.site.archive, root: root)
        reports = Self.resolve(c.site.reports, root: root)
        state = Self.resolve(c.site.state, root: root)
        annotations = Self.resolve(c.site.annotations, root: root)
    }

    /// `value` if absolute, else `root/value`.
    public static func resolve(_ value: String, root: String) -> String {
        if value.hasPrefix("/") { return value }
        return root.hasSuffix("/") ? root + value : root + "/" + value
    }

    /// The watched inbox folders with their region ("auto" for the auto inbox).
    public func inboxFolders(_ c: SegvolConfig) -> [(region: String, path: String)] {
        var out = c.inbox.regions.map { (region: $0, path: inbox + "/" + $0) }
        if c.inbox.auto { out.append((region: "auto", path: inbox + "/auto")) }
        return out
    }
}
