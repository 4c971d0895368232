internal import COpenBLAS
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

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

    /// The route the 3x3 convolutions take on this CPU: "avx512" (direct kernels for inference
    /// and training), "avx2" (packed AVX2 + FMA kernel for inference, im2col + GEMM for training,
    /// the up-conv and the head), "gemm" (im2col + GEMM everywhere). `SEGVOL_ENGINE_ISA=avx2`
    /// forces the AVX2 route on an AVX-512 CPU; `SEGVOL_ENGINE_GEMM_CONV=1` the GEMM route.
    public static var convolutionRoute: String {
        !conv3x3DirectEnabled ? "gemm" : conv3x3DirectAvailable ? "avx512" : "avx2"
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
/// Must not be called from inside a `body` (no nesting).
@inline(__always)
func parallelFor(_ count: Int, workers: Int, _ body: (_ item: Int, _ worker: Int) -> Void) {
    let w = min(workers, count)
    if w <= 1 {
        for i in 0..<count { body(i, 0) }
        return
    }
    WorkerPool.shared.run(count: count, workers: w, body)
}

/// The engine's persistent worker threads (the caller is worker 0): started on first use, parked
/// on a condition variable between calls, so a parallel loop allocates nothing (Dispatch's
/// `concurrentPerform` made ~4 small allocations per call, ~250 per training step).
/// Calls from different threads are serialised.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    private let callLock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let start = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Guarded by `lock`.
    private var threadCount = 0
    private var generation = 0
    private var job: ((Int, Int) -> Void)?
    private var jobCount = 0
    private var jobWorkers = 0
    private var remaining = 0

    private init() {
        pthread_mutex_init(callLock, nil)
        pthread_mutex_init(lock, nil)
        pthread_cond_init(start, nil)
        pthread_cond_init(done, nil)
    }

    func run(count: Int, workers: Int, _ body: (Int, Int) -> Void) {
        pthread_mutex_lock(callLock)
        defer { pthread_mutex_unlock(callLock) }
        withoutActuallyEscaping(body) { body in
            pthread_mutex_lock(lock)
            while threadCount < workers - 1 {
                threadCount += 1
                spawn(index: threadCount)
            }
            job = body
            jobCount = count
            jobWorkers = workers
            remaining = workers - 1
            generation += 1
            pthread_cond_broadcast(start)
            pthread_mutex_unlock(lock)

            var i = 0
            while i < count {
                body(i, 0)
                i += workers
            }

            pthread_mutex_lock(lock)
            while remaining > 0 { pthread_cond_wait(done, lock) }
            job = nil  // release before withoutActuallyEscaping returns
            pthread_mutex_unlock(lock)
        }
    }

    /// Starts worker `index`; called under `lock` before the job's generation is published, so
    /// the worker starts from the current generation and takes that job.
    private func spawn(index: Int) {
        let context = Unmanaged.passRetained(WorkerContext(pool: self, index: index, generation: generation)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
            context.pool.workerLoop(index: context.index, startGeneration: context.generation)
            return nil
        }, context)
        precondition(rc == 0, "cannot start an engine worker thread (pthread_create \(rc))")
        pthread_detach(thread)
    }

    private func workerLoop(index: Int, startGeneration: Int) {
        var seen = startGeneration
        pthread_mutex_lock(lock)
        while true {
            while generation == seen { pthread_cond_wait(start, lock) }
            seen = generation
            guard index < jobWorkers, let body = job else { continue }
            let count = jobCount, workers = jobWorkers
            pthread_mutex_unlock(lock)
            var i = index
            while i < count {
                body(i, index)
                i += workers
            }
            pthread_mutex_lock(lock)
            remaining -= 1
            if remaining == 0 { pthread_cond_signal(done) }
        }
    }
}

private final class WorkerContext {
    let pool: WorkerPool
    let index: Int
    let generation: Int
    init(pool: WorkerPool, index: Int, generation: Int) {
        self.pool = pool
        self.index = index
        self.generation = generation
    }
}
