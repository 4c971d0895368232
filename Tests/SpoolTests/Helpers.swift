import Configuration
import Foundation
import Logging
@testable import Spool

/// A throw-away site under /tmp with small quiet times, removed on deinit.
final class TestSite {
    let root: String
    var config: SegvolConfig

    init(quietFile: Double = 0.3, quietFolder: Double = 0.5, maxAttempts: Int = 1) {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("segvol-spool-\(UUID().uuidString.prefix(8))").path
        config = SegvolConfig()
        config.site.root = root
        config.inbox.quietFileSeconds = quietFile
        config.inbox.quietFolderSeconds = quietFolder
        config.inbox.rescanIntervalSeconds = 0.2
        config.worker.maxAttempts = maxAttempts
        config.worker.backoffSeconds = 0
        config.worker.timeLimitSeconds = 5
        config.disk.minFreePercent = 0
        config.disk.minFreeMB = 0
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    var paths: SitePaths { SitePaths(config) }
    func inbox(_ region: String = "thigh") -> String { paths.inbox + "/" + region }

    /// An engine whose "worker" is /bin/false: every claimed job fails at the worker stage, which
    /// is enough to observe claims (the real worker is exercised in DaemonTests).
    func engine() throws -> SpoolEngine {
        try SpoolEngine(config: config, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), workerExecutable: "/bin/false")
    }

    /// Drop names that were claimed (found in work/, failed/ or archive/ job records).
    func claimedDrops() -> [String] {
        let store = JobStore(paths: paths)
        return [paths.work, paths.failed, paths.archive].flatMap { dir in
            store.jobIDs(in: dir).compactMap { store.load(dir: dir + "/" + $0)?.dropName }
        }.sorted()
    }

    /// Failed jobs' drop names with their reason codes.
    func failures() -> [String: String] {
        let store = JobStore(paths: paths)
        var out: [String: String] = [:]
        for id in store.jobIDs(in: paths.failed) {
            if let record = store.load(dir: paths.failed + "/" + id), let reason = store.failureReason(id) { out[record.dropName] = reason.code }
        }
        return out
    }
}

/// Runs engine ticks for `seconds`, calling `check` after each.
func runTicks(_ engine: SpoolEngine, seconds: Double, every: Double = 0.05, check: () -> Void = {}) {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        engine.tick()
        check()
        usleep(useconds_t(every * 1_000_000))
    }
}

func writeFile(_ path: String, _ bytes: [UInt8]) {
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
}
