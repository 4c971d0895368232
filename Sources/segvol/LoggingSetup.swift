import Logging
import SystemdSupport

/// The one place the executable builds its logging: journald when running under systemd
/// (or `log.target = "journal"`), plain stderr otherwise. Libraries only receive the Logger.
enum LoggingSetup {
    nonisolated(unsafe) private static var bootstrapped = false

    static func logger(label: String = "segvol", target: String, level: String) -> Logger {
        let parsed = Logger.Level(rawValue: level) ?? .info
        if !bootstrapped {
            bootstrapped = true
            LoggingSystem.bootstrap { name in SystemdLogging.handler(label: name, target: target, level: parsed) }
        }
        var logger = Logger(label: label)
        logger.logLevel = parsed
        return logger
    }
}
