#if canImport(Glibc)
import Glibc
#endif
import NeuralEngine

/// Makes sure OpenBLAS loaded with the kernel family the engine was tuned for.
///
/// OpenBLAS reads `OPENBLAS_CORETYPE` once, when the library loads, so setting it from inside
/// the process is too late: commands that run the engine call this first, and when the variable
/// is missing it is set and the process re-executes itself (once; `SEGVOL_BLAS_REEXEC` marks the
/// second start). A value the operator set, or the systemd unit's `Environment=`, is respected.
/// Only on x86-64, where the recommended kernels exist.
func ensureBLASEnvironment() {
    #if arch(x86_64) && os(Linux)
    let env = EngineThreads.recommendedEnvironment
    guard env.keys.contains(where: { getenv($0) == nil }), getenv("SEGVOL_BLAS_REEXEC") == nil else { return }
    for (key, value) in env where getenv(key) == nil { setenv(key, value, 1) }
    setenv("SEGVOL_BLAS_REEXEC", "1", 1)
    var argv: [UnsafeMutablePointer<CChar>?] = CommandLine.arguments.map { strdup($0) }
    argv.append(nil)
    execv("/proc/self/exe", &argv)
    // execv returns only on failure: carry on with the kernels OpenBLAS picked.
    #endif
}
