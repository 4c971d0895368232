internal import CSystemd
#if canImport(Glibc)
import Glibc
#endif

/// sd_notify(3) for a Type=notify service: READY, STATUS, WATCHDOG, RELOADING, STOPPING.
///
/// Silent when NOTIFY_SOCKET is unset (not started by systemd); a refused datagram
/// (ECONNREFUSED: the manager went away, or a test listener stopped) is tolerated and reported
/// only through the return value, never thrown: monitoring must not stop the daemon.
public struct SystemdNotifier: Sendable {
    /// The watchdog period systemd asked for (WATCHDOG_USEC for this PID), or nil.
    public let watchdogInterval: Duration?

    public init() {
        var usec: UInt64 = 0
        // sd_watchdog_enabled checks WATCHDOG_PID against our PID; 0 keeps the variables set.
        if sd_watchdog_enabled(0, &usec) > 0, usec > 0 {
            watchdogInterval = .microseconds(Int64(usec))
        } else {
            watchdogInterval = nil
        }
    }

    /// True when a notification socket is configured.
    public var isEnabled: Bool { getenv("NOTIFY_SOCKET") != nil }

    /// How often to send WATCHDOG=1: half the period systemd enforces.
    public var watchdogCadence: Duration? { watchdogInterval.map { $0 / 2 } }

    /// Sends newline-separated `fields` in one datagram. Returns true when it was delivered;
    /// false when there is no socket or the send failed (e.g. -ECONNREFUSED).
    @discardableResult
    public func send(_ fields: [String]) -> Bool {
        guard isEnabled else { return false }
        let text = fields.joined(separator: "\n")
        return text.withCString { sd_notify(0, $0) } > 0
    }

    /// READY=1 with a status line: start-up (recovery, rescan) is complete.
    @discardableResult public func ready(status: String) -> Bool { send(["READY=1", "STATUS=\(status)"]) }
    /// STATUS=: a one-line summary shown by `systemctl status`.
    @discardableResult public func status(_ text: String) -> Bool { send(["STATUS=\(text)"]) }
    /// WATCHDOG=1: the main loop is alive.
    @discardableResult public func watchdog() -> Bool { send(["WATCHDOG=1"]) }
    /// RELOADING=1 (with MONOTONIC_USEC as newer managers require) before re-reading the configuration.
    @discardableResult public func reloading() -> Bool {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let usec = UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
        return send(["RELOADING=1", "MONOTONIC_USEC=\(usec)", "STATUS=Reloading configuration"])
    }
    /// STOPPING=1: shutdown has begun.
    @discardableResult public func stopping(status: String = "Stopping") -> Bool { send(["STOPPING=1", "STATUS=\(status)"]) }
}
