internal import COpenBLAS

/// The engine's one threading scheme: OpenBLAS's own pool runs the GEMMs (the bulk of the work);
/// the engine's element-wise, im2col and reduction loops run on the calling thread.
///
/// Two pools side by side (OpenMP-style workers next to OpenBLAS's spinning threads) were measured
/// slower at 2 threads than 1 on the target machine, so the engine never starts a second pool.
/// The kernel type OpenBLAS uses (`OPENBLAS_CORETYPE`) is read once when the library loads and
/// must be set in the process environment (the service unit), not here.
public enum EngineThreads {
    /// Sets the number of threads OpenBLAS may use; `nil` or values < 1 mean all cores.
    /// Call it at start-up, not while another thread is inside the engine: OpenBLAS resizes its
    /// pool and buffers in place. Does nothing when the count is already the requested one.
    public static func configure(threadCount: Int?) {
        let n = resolvedCount(requested: threadCount, cores: Int(openblas_get_num_procs()))
        if n != self.threadCount { openblas_set_num_threads(Int32(n)) }
    }

    /// The thread count a request resolves to: the request when >= 1, else all cores.
    public static func resolvedCount(requested: Int?, cores: Int) -> Int {
        if let requested, requested >= 1 { return requested }
        return max(cores, 1)
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

    /// The number of threads OpenBLAS currently uses.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }
}
