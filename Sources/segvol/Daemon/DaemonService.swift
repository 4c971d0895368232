import Configuration
import Dispatch
import Foundation
import Logging
import ModelRegistry
import ServiceLifecycle
import Spool
import Synchronization
import SystemdSupport

/// Set by SIGHUP, consumed by the main loop.
private let reloadRequested = Atomic<Bool>(false)

/// The daemon's main loop as a Service: recovery and a first rescan, then READY=1; every tick
/// the spool engine runs once, STATUS= follows its changes and WATCHDOG=1 goes out at half the
/// watchdog period (so a stalled loop stops the pings and systemd restarts the service).
/// SIGHUP: RELOADING=1, re-read and validate the configuration (the old one stays on error),
/// READY=1. Graceful shutdown: STOPPING=1, the running job finishes or is re-queued.
final class DaemonService: Service, @unchecked Sendable {
    // The engine is touched only from run(), one task: @unchecked Sendable is sound here.
    let engine: SpoolEngine
    let configPath: String
    let logger: Logger
    let exitWhenIdle: Bool
    let notifier = SystemdNotifier()
    static let tick: Duration = .milliseconds(100)

    init(engine: SpoolEngine, configPath: String, logger: Logger, exitWhenIdle: Bool) {
        self.engine = engine
        self.configPath = configPath
        self.logger = logger
        self.exitWhenIdle = exitWhenIdle
    }

    func run() async throws {
        let hangup = Self.trapHangup()
        defer { hangup.cancel() }
        notifier.status("Recovering unfinished jobs")
        _ = try engine.recover()
        engine.scanInboxes()
        notifier.status("Loading the model")
        recoverRegistry()
        checkModel()
        engine.modelDirectoryForJob = { [unowned self] in self.modelForJob() }
        notifier.ready(status: engine.statusLine())
        engine.statusChanged = false
        engine.writeMetrics()
        logger.notice("segvol ready", metadata: ["status": "\(engine.statusLine())"])

        var lastPing: ContinuousClock.Instant?
        func pingIfDue() {
            guard let cadence = notifier.watchdogCadence else { return }
            let now = ContinuousClock.now
            if lastPing.map({ now - $0 >= cadence }) ?? true {
                notifier.watchdog()
                lastPing = now
            }
        }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if reloadRequested.exchange(false, ordering: .acquiringAndReleasing) { reload() }
            engine.tick()
            if engine.statusChanged {
                engine.statusChanged = false
                notifier.status(engine.statusLine())
                engine.writeMetrics()
            }
            pingIfDue()
            if exitWhenIdle && engine.isIdle { break }
            try? await Task.sleep(for: Self.tick)
        }
        notifier.stopping(status: "Stopping: \(engine.statusLine())")
        logger.notice("segvol stopping")
        await engine.stop { duration in
            pingIfDue()
            try? await Task.sleep(for: duration)
        }
        engine.writeMetrics()
        logger.notice("segvol stopped", metadata: ["status": "\(engine.statusLine())"])
    }

    /// SIGHUP handling: the signal is ignored by default disposition and delivered to a dispatch
    /// source, which only sets a flag (the loop does the work).
    static func trapHangup() -> any DispatchSourceSignal {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler { reloadRequested.store(true, ordering: .releasing) }
        source.resume()
        return source
    }

    func reload() {
        notifier.reloading()
        do {
            let new = try ConfigLoader.load(path: configPath)
            try ConfigLoader.checkFileSystem(new, file: configPath)
            try engine.apply(new, file: configPath)
            logger.notice("configuration reloaded", metadata: ["event": "reload", "result": "applied"])
            checkModel()
        } catch {
            logger.error("configuration reload refused; keeping the old configuration",
                         metadata: ["event": "reload", "result": "refused", "key": "\(error.key)", "error": "\(error.message)"])
        }
        notifier.ready(status: engine.statusLine())
    }

    /// The resolved model folder the last check loaded ("" when none was usable).
    private var checkedModelPath: String?

    /// Loads the model the next jobs will use and says which one: `model.loaded` with its
    /// version and weights hash, or one warning that jobs are converted without segmentation
    /// and why. Runs at start, on reload, and whenever the resolved folder changes (a
    /// promotion or rollback switched `models/current`). Each worker loads the model again.
    func checkModel(resolved: String? = nil) {
        let path = resolved ?? resolveModel()
        checkedModelPath = path ?? ""
        switch SegmentationStage.loadModel(directory: path ?? engine.config.model.dir, registry: SitePaths.models(engine.config)) {
        case .success(let (_, model)):
            engine.modelSummary = "model \(model.version)"
            logger.notice("model loaded", metadata: [
                "event": "model.loaded", "model": "\(model.version)", "weights_sha256": "\(model.weightsSHA256)",
                "path": "\(model.path)", "seconds": "\(String(format: "%.3f", model.loadSeconds))",
            ])
        case .failure(let error):
            engine.modelSummary = "no model"
            logger.warning("no usable model: jobs are converted without segmentation", metadata: [
                "model": "none", "code": "\(error.code.rawValue)", "error": "\(error.reason)", "remedy": "\(error.remedy)",
            ])
        }
    }

    /// The model folder with symlinks resolved (nil when none is found).
    func resolveModel() -> String? {
        try? SegmentationStage.locateModel(directory: engine.config.model.dir, registry: SitePaths.models(engine.config))
    }

    /// Called by the engine once per job start: resolves `models/current` once, so the job's
    /// worker gets one version's folder; a folder other than the last one is loaded and logged
    /// first (`model.loaded`, STATUS= names the new version).
    func modelForJob() -> String {
        let path = resolveModel()
        if (path ?? "") != checkedModelPath { checkModel(resolved: path) }
        return path ?? engine.config.model.dir
    }

    /// Repairs what a crash during a registration or a switch left in the registry (temporaries,
    /// an interrupted switch), so `current` is valid before the first job.
    func recoverRegistry() {
        let directory = SitePaths.models(engine.config)
        guard FileManager.default.fileExists(atPath: directory) else { return }
        do {
            for repair in try ModelRegistry(directory: directory).recover() {
                logger.notice("model registry repaired", metadata: ["repair": "\(repair)", "path": "\(directory)"])
            }
        } catch {
            logger.warning("cannot check the model registry", metadata: ["code": "\(error.code.rawValue)", "error": "\(error.reason)", "remedy": "\(error.remedy)"])
        }
    }
}
