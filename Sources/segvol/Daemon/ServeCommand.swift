import ArgumentParser
import Configuration
import Foundation
import Logging
import ServiceLifecycle
import Spool
import SystemdSupport

/// `segvol serve`: the daemon. Runs `DaemonService` in a ServiceGroup that turns SIGTERM and
/// SIGINT into a graceful shutdown; SIGHUP reloads the configuration.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the daemon: watch the inboxes, process each settled drop in a worker, write the outbox.",
        discussion: """
            Exit status: 0 after a graceful stop, 69 when another instance holds the site's lock or \
            the site cannot be prepared, 78 for an invalid configuration, 70 for an internal failure.
            """
    )

    @Option(help: "The configuration file.")
    var config = defaultConfigPath

    @Flag(help: "Stop once the inboxes are empty and every job is done or failed (demos and tests).")
    var exitWhenIdle = false

    func run() async throws {
        let loaded: SegvolConfig
        do {
            loaded = try ConfigLoader.load(path: config)
            try ConfigLoader.checkFileSystem(loaded, file: config)
        } catch {
            note(error.description)
            throw ExitCode(ExitStatus.config)
        }
        let logger = LoggingSetup.logger(target: loaded.log.target, level: loaded.log.level)
        let engine: SpoolEngine
        do {
            engine = try SpoolEngine(config: loaded, logger: logger, workerExecutable: Self.ownExecutable())
        } catch let error as SpoolError {
            logger.critical("cannot start", metadata: ["code": "\(error.code.rawValue)", "error": "\(error.message)", "remedy": "\(error.remedy)"])
            if !SystemdLogging.stderrIsJournal() && loaded.log.target != "stderr" { note(error.description) }
            throw ExitCode(ExitStatus.unavailable)
        }
        do {
            _ = try Pseudonym.ensureKey(at: engine.store.paths.pseudonymKey)
        } catch {
            logger.critical("cannot create the pseudonym key", metadata: ["error": "\(error)"])
            throw ExitCode(ExitStatus.unavailable)
        }
        engine.finishing = { [unowned engine] record in
            let paths = engine.store.paths
            return try ReportWriter(reports: paths.reports, outbox: paths.outbox, includeDropNames: engine.config.reports.dropNames).append(record)
        }
        let service = DaemonService(engine: engine, configPath: config, logger: logger, exitWhenIdle: exitWhenIdle)
        // The service returns by itself only with --exit-when-idle: that ends the group normally.
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            logger.critical("daemon loop failed", metadata: ["error": "\(error)"])
            throw ExitCode(ExitStatus.software)
        }
    }

    /// This process's own binary (the worker is the same executable).
    static func ownExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
