internal import COpenBLAS

/// Row-major single-precision GEMM, the engine's only BLAS call site:
/// C (m, n) = alpha * op(A) (m, k) * op(B) (k, n) + beta * C.
/// `lda`, `ldb`, `ldc` are the row strides of A, B, C as stored (before transposition).
@inline(__always)
func sgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    cblas_sgemm(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
        blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
}
