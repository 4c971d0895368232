import Foundation
import Spool
#if canImport(Glibc)
import Glibc
#endif

/// Limits the worker applies to itself before it reads any input.
enum WorkerLimits {
    /// RLIMIT_AS (address space) and RLIMIT_CPU (SIGXCPU at the soft limit, SIGKILL at the hard).
    static func apply(memoryMB: Int, cpuSeconds: Int) {
        if memoryMB > 0 {
            var limit = rlimit(rlim_cur: rlim_t(memoryMB) << 20, rlim_max: rlim_t(memoryMB) << 20)
            setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit)
        }
        if cpuSeconds > 0 {
            var limit = rlimit(rlim_cur: rlim_t(cpuSeconds), rlim_max: rlim_t(cpuSeconds + 5))
            setrlimit(__rlimit_resource_t(RLIMIT_CPU.rawValue), &limit)
        }
        // No core dumps of patient data.
        var none = rlimit(rlim_cur: 0, rlim_max: 0)
        setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &none)
    }

    /// The daemon passes fd 3, one end of a socket pair it never writes to: EOF there means the
    /// daemon is gone (even after SIGKILL), and the worker exits so a restarted daemon can redo
    /// the job alone. Without fd 3 (run by hand) nothing is watched.
    static func exitWhenParentDies() {
        var st = stat()
        guard fstat(3, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK else { return }
        let thread = Thread {
            var byte: UInt8 = 0
            while true {
                let n = read(3, &byte, 1)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { _exit(WorkerExit.orphaned) }
            }
        }
        thread.start()
    }
}
