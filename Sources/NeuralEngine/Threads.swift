internal import COpenBLAS
import Dispatch
import Synchronization

/// The engine's one threading scheme: its own workers split each layer's work (images and
/// row chunks of a convolution, channels of a batch norm, planes of a pool) and every GEMM runs
/// single-threaded inside a worker. OpenBLAS's own pool is pinned to one thread.
///
/// Two pools side by side (OpenMP-style workers next to OpenBLAS's spinning threads) measured
/// slower at 2 threads than 1 on the target machine, so only one of them may run; the engine's
/// split also covers im2col and the element-wise passes, which OpenBLAS's threads do not.
/// The kernel type OpenBLAS uses (`OPENBLAS_CORETYPE`) is read once when the library loads and
/// must be set in the process environment (the service unit), not here.
public enum EngineThreads {
    private static let configured = Atomic<Int>(0)

    /// Sets the number of worker threads new models use; `nil` or values < 1 mean all cores.
    /// Also pins OpenBLAS to one thread (done once; OpenBLAS resizes its pool in place, so this
    /// must not run while another thread is inside a GEMM).
    public static func configure(threadCount: Int?) {
        configured.store(resolvedCount(requested: threadCount, cores: cores), ordering: .relaxed)
        pinBLAS()
    }

    /// The number of workers new models use (all cores until `configure` says otherwise).
    public static var threadCount: Int {
        let n = configured.load(ordering: .relaxed)
        return n >= 1 ? n : cores
    }

    /// The thread count a request resolves to: the request when >= 1, else all cores.
    public static func resolvedCount(requested: Int?, cores: Int) -> Int {
        if let requested, requested >= 1 { return requested }
        return max(cores, 1)
    }

    /// The number of CPU cores OpenBLAS sees.
    public static var cores: Int { max(Int(openblas_get_num_procs()), 1) }

    /// The number of threads OpenBLAS itself uses (1 once the engine has pinned it).
    public static var blasThreadCount: Int { Int(openblas_get_num_threads()) }

    private static let pinned = Atomic<Bool>(false)

    /// Pins OpenBLAS to one thread, once per process.
    static func pinBLAS() {
        if pinned.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged {
            openblas_set_num_threads(1)
        }
    }

    /// The CPU kernel family OpenBLAS chose at load time (e.g. "Haswell", "Cooperlake").
    public static var blasCoreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// The environment the process should START with for the fastest GEMMs on AMD Zen 4:
    /// OpenBLAS 0.3.21 picks its Cooperlake kernels there, which measured 3.4x slower than the
    /// Haswell kernels on the U-Net's narrow convolution GEMMs (width 16, 256 x 256, 1 thread).
    /// OpenBLAS reads it once when the library loads, so the service unit (or a re-exec) sets it.
    public static let recommendedEnvironment: [String: String] = ["OPENBLAS_CORETYPE": "Haswell"]
}

/// Runs `body(item, worker)` for item in 0..<count on `workers` threads; worker w takes items
/// w, w + workers, ... (the items of one call cost about the same). Runs inline for one worker
/// or one item. Workers write disjoint outputs or their own scratch (indexed by `worker`).
@inline(__always)
func parallelFor(_ count: Int, workers: Int, _ body: (_ item: Int, _ worker: Int) -> Void) {
    let w = min(workers, count)
    if w <= 1 {
        for i in 0..<count { body(i, 0) }
        return
    }
    withoutActuallyEscaping(body) { body in
        // The kernels' closures capture raw pointers (not Sendable); the workers touch disjoint
        // memory by construction, which the type system cannot see.
        let work = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: w) { worker in
            var i = worker
            while i < count {
                work.value(i, worker)
                i += w
            }
        }
    }
}

/// A value handed to worker threads under the caller's guarantee of race freedom.
private struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
