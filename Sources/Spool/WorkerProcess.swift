#if canImport(Glibc)
import Glibc
#endif

/// How a worker ended.
public enum WorkerOutcome: Sendable, Equatable {
    /// Exited with this status (0: done; see `WorkerExit`).
    case exited(Int32)
    /// Killed by this signal (SIGSEGV: crash; SIGXCPU: CPU limit; SIGKILL: killed).
    case signalled(Int32)
    /// Killed by the daemon after its wall-clock deadline.
    case timedOut
}

/// Exit statuses of `segvol worker` (sysexits.h values, as the other commands use).
public enum WorkerExit {
    public static let done: Int32 = 0
    /// The input is bad: fail the job now, no retry (result.json says why).
    public static let badInput: Int32 = 65
    /// Outputs could not be written (ENOSPC, I/O): retry later.
    public static let cannotWrite: Int32 = 73
    /// The daemon that started the worker is gone.
    public static let orphaned: Int32 = 75
}

/// One `segvol worker` child: spawned with posix_spawn in its own process group, with default
/// signal dispositions and stdin on /dev/null. It inherits fd 3, the read end of a pipe only the
/// daemon writes to: when the daemon dies (even by SIGKILL) the pipe reads EOF and the worker exits.
/// Memory and CPU limits are applied by the worker itself (setrlimit) before it reads any input;
/// the wall-clock deadline is enforced here with SIGKILL.
public final class WorkerProcess {
    public let pid: pid_t
    let lifeline: Int32
    public let deadline: ContinuousClock.Instant
    public private(set) var outcome: WorkerOutcome?
    var killedForDeadline = false

    /// Starts `executable` with `arguments` (argv[1...]).
    public init(executable: String, arguments: [String], timeLimit: Duration) throws(SystemCallError) {
        var fds: [Int32] = [0, 0]
        // A socket pair rather than pipe2 (not exported by Swift's Glibc); same EOF semantics.
        try sys("socketpair", "") { socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) }
        defer { close(fds[0]) }
        lifeline = fds[1]

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[0], 3)

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGQUIT, SIGUSR1, SIGUSR2] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        // The worker gets the daemon's environment minus the service manager's notification
        // variables: only the daemon speaks to systemd.
        var envp: [UnsafeMutablePointer<CChar>?] = []
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if !["NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=", "LISTEN_FDS=", "LISTEN_PID="].contains(where: text.hasPrefix) {
                envp.append(strdup(entry))
            }
            cursor += 1
        }
        envp.append(nil)
        defer { envp.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, &attr, argv, envp)
        guard rc == 0 else {
            close(fds[1])
            throw SystemCallError(call: "posix_spawn", path: executable, errno: rc)
        }
        pid = child
        deadline = .now + timeLimit
    }

    deinit {
        if outcome == nil {
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
        close(lifeline)
    }

    /// Non-blocking check; kills the worker's process group once past the deadline. Returns the
    /// outcome once the worker has ended.
    public func poll(now: ContinuousClock.Instant = .now) -> WorkerOutcome? {
        if let outcome { return outcome }
        var status: Int32 = 0
        let rc = waitpid(pid, &status, WNOHANG)
        if rc == pid {
            let signalled = (status & 0x7f) != 0 && (status & 0x7f) != 0x7f
            if killedForDeadline {
                outcome = .timedOut
            } else if signalled {
                outcome = .signalled(status & 0x7f)
            } else {
                outcome = .exited((status >> 8) & 0xff)
            }
            return outcome
        }
        if now >= deadline && !killedForDeadline {
            killedForDeadline = true
            kill(-pid, SIGKILL)
        }
        return nil
    }

    /// Kills the worker now (shutdown past the stop timeout) and reaps it.
    public func terminate() {
        guard outcome == nil else { return }
        kill(-pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        outcome = .signalled(SIGKILL)
    }
}
