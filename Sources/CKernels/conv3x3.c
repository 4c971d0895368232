// Direct 3x3 (pad 1, stride 1) convolution on NCHW, register-blocked for AVX-512.
//
// Output tile: COB output channels x NV*16 pixels of one row, COB*NV zmm accumulators.
// For each input channel and each of the 9 taps, NV (masked, unaligned) loads of the shifted
// input row are FMA-ed against COB broadcast weights, so there is no im2col copy: the input
// rows stay in L1/L2 and the weights stream. Masks give the zero padding at the left and
// right borders and the tail of a row; rows above/below the image are skipped.
#include "CKernels.h"
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define CK_X86 1
#include <immintrin.h>
#endif

/// Per-channel epilogue of `bn`: y = max(0, x * scale + shift).
static inline void ck_bn_coeffs(const ck_bn_relu *bn, int o, float *scale, float *shift) {
    float s = bn->gamma[o] / sqrtf(bn->var[o] + bn->eps);
    *scale = s;
    *shift = bn->beta[o] + ((bn->bias ? bn->bias[o] : 0.0f) - bn->mean[o]) * s;
}

static void ck_scalar(float *out, const float *inp, const float *weight, const float *bias, const ck_bn_relu *bn,
                      int ci, int co, int h, int w, int y0, int rows) {
    const size_t hw = (size_t)h * w;
    for (int o = 0; o < co; o++) {
        for (int y = y0; y < y0 + rows; y++) {
            float *orow = out + o * hw + (size_t)y * w;
            float b = bias ? bias[o] : 0.0f;
            for (int x = 0; x < w; x++) orow[x] = b;
            for (int c = 0; c < ci; c++) {
                const float *wk = weight + ((size_t)o * ci + c) * 9;
                for (int ky = 0; ky < 3; ky++) {
                    int sy = y + ky - 1;
                    if (sy < 0 || sy >= h) continue;
                    const float *irow = inp + c * hw + (size_t)sy * w;
                    for (int kx = 0; kx < 3; kx++) {
                        float wv = wk[ky * 3 + kx];
                        int xa = kx == 0 ? 1 : 0, xb = kx == 2 ? w - 1 : w;
                        for (int x = xa; x < xb; x++) orow[x] += wv * irow[x + kx - 1];
                    }
                }
            }
            if (bn) {
                float sc, sh;
                ck_bn_coeffs(bn, o, &sc, &sh);
                for (int x = 0; x < w; x++) { float v = orow[x] * sc + sh; orow[x] = v > 0 ? v : 0; }
            }
        }
    }
}

void ck_conv3x3_forward_scalar(float *out, const float *inp, const float *weight, const float *bias,
                               int ci, int co, int h, int w, int y0, int rows) {
    ck_scalar(out, inp, weight, bias, NULL, ci, co, h, w, y0, rows);
}

void ck_conv3x3_bn_relu_forward_scalar(float *out, const float *inp, const float *weight, const ck_bn_relu *bn,
                                       int ci, int co, int h, int w, int y0, int rows) {
    ck_scalar(out, inp, weight, NULL, bn, ci, co, h, w, y0, rows);
}

#ifdef CK_X86

/// Lanes l of a 16-wide load at column xs with 0 <= xs + l < w.
static inline __mmask16 ck_lanes(int xs, int w) {
    int lo = xs < 0 ? -xs : 0;
    int hi = w - xs < 16 ? w - xs : 16;
    if (hi <= lo) return 0;
    unsigned m = (hi >= 16 ? 0xFFFFu : ((1u << hi) - 1u)) & ~((1u << lo) - 1u);
    return (__mmask16)m;
}

/// One tile: COB output channels from o0, NV vectors of 16 pixels from x0, row y.
/// COB and NV are compile-time constants at every call site (the compiler unrolls them).
__attribute__((target("avx512f"), always_inline))
static inline void ck_tile(float *out, const float *inp, const float *weight, const float *bias,
                           const ck_bn_relu *bn, int ci, int h, int w, int y, int o0, int x0, const int COB, const int NV) {
    const size_t hw = (size_t)h * w;
    __m512 acc[8][2];
    for (int j = 0; j < COB; j++)
        for (int v = 0; v < NV; v++)
            acc[j][v] = _mm512_set1_ps(bias ? bias[o0 + j] : 0.0f);
    __mmask16 m[3][2];
    for (int kx = 0; kx < 3; kx++)
        for (int v = 0; v < NV; v++) m[kx][v] = ck_lanes(x0 + 16 * v + kx - 1, w);
    int kya = y == 0 ? 1 : 0, kyb = y == h - 1 ? 2 : 3;
    const size_t wstride = (size_t)ci * 9;
    for (int c = 0; c < ci; c++) {
        const float *wc = weight + (size_t)o0 * wstride + (size_t)c * 9;
        const float *ic = inp + c * hw;
        for (int ky = kya; ky < kyb; ky++) {
            const float *irow = ic + (size_t)(y + ky - 1) * w + x0 - 1;
            for (int kx = 0; kx < 3; kx++) {
                __m512 in[2];
                for (int v = 0; v < NV; v++) in[v] = _mm512_maskz_loadu_ps(m[kx][v], irow + 16 * v + kx);
                for (int j = 0; j < COB; j++) {
                    __m512 wv = _mm512_set1_ps(wc[j * wstride + ky * 3 + kx]);
                    for (int v = 0; v < NV; v++) acc[j][v] = _mm512_fmadd_ps(wv, in[v], acc[j][v]);
                }
            }
        }
    }
    if (bn) {
        for (int j = 0; j < COB; j++) {
            float sc, sh;
            ck_bn_coeffs(bn, o0 + j, &sc, &sh);
            __m512 vs = _mm512_set1_ps(sc), vh = _mm512_set1_ps(sh), z = _mm512_setzero_ps();
            for (int v = 0; v < NV; v++) acc[j][v] = _mm512_max_ps(_mm512_fmadd_ps(acc[j][v], vs, vh), z);
        }
    }
    for (int v = 0; v < NV; v++) {
        __mmask16 sm = ck_lanes(x0 + 16 * v, w);
        for (int j = 0; j < COB; j++)
            _mm512_mask_storeu_ps(out + (size_t)(o0 + j) * hw + (size_t)y * w + x0 + 16 * v, sm, acc[j][v]);
    }
}

__attribute__((target("avx512f")))
static void ck_conv3x3_forward_avx512(float *out, const float *inp, const float *weight, const float *bias,
                                      const ck_bn_relu *bn, int ci, int co, int h, int w, int y0, int rows) {
    for (int y = y0; y < y0 + rows; y++) {
        for (int x0 = 0; x0 < w; x0 += 32) {
            int two = w - x0 > 16;
            int o = 0;
            for (; o + 8 <= co; o += 8) {
                if (two) ck_tile(out, inp, weight, bias, bn, ci, h, w, y, o, x0, 8, 2);
                else ck_tile(out, inp, weight, bias, bn, ci, h, w, y, o, x0, 8, 1);
            }
            for (; o < co; o++) {
                if (two) ck_tile(out, inp, weight, bias, bn, ci, h, w, y, o, x0, 1, 2);
                else ck_tile(out, inp, weight, bias, bn, ci, h, w, y, o, x0, 1, 1);
            }
        }
    }
}

int ck_engine_isa(void) {
    static int cached = -1;
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v >= 0) return v;
    __builtin_cpu_init();  // idempotent; the checks read one global
    v = __builtin_cpu_supports("avx512f") ? 2 : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 1 : 0;
    const char *force = getenv("SEGVOL_ENGINE_ISA");
    if (force && strcmp(force, "avx2") == 0 && v > 1) v = 1;
    if (force && strcmp(force, "none") == 0) v = 0;
    __atomic_store_n(&cached, v, __ATOMIC_RELAXED);  // every thread computes the same value
    return v;
}

int ck_conv3x3_fast_available(void) { return ck_engine_isa() == 2; }

void ck_conv3x3_forward(float *out, const float *inp, const float *weight, const float *bias,
                        int ci, int co, int h, int w, int y0, int rows) {
    if (ck_conv3x3_fast_available()) {
        ck_conv3x3_forward_avx512(out, inp, weight, bias, NULL, ci, co, h, w, y0, rows);
    } else {
        ck_scalar(out, inp, weight, bias, NULL, ci, co, h, w, y0, rows);
    }
}

void ck_conv3x3_bn_relu_forward(float *out, const float *inp, const float *weight, const ck_bn_relu *bn,
                                int ci, int co, int h, int w, int y0, int rows) {
    if (ck_conv3x3_fast_available()) {
        ck_conv3x3_forward_avx512(out, inp, weight, NULL, bn, ci, co, h, w, y0, rows);
    } else {
        ck_scalar(out, inp, weight, NULL, bn, ci, co, h, w, y0, rows);
    }
}

#else

int ck_engine_isa(void) { return 0; }

int ck_conv3x3_fast_available(void) { return 0; }

void ck_conv3x3_forward(float *out, const float *inp, const float *weight, const float *bias,
                        int ci, int co, int h, int w, int y0, int rows) {
    ck_scalar(out, inp, weight, bias, NULL, ci, co, h, w, y0, rows);
}

void ck_conv3x3_bn_relu_forward(float *out, const float *inp, const float *weight, const ck_bn_relu *bn,
                                int ci, int co, int h, int w, int y0, int rows) {
    ck_scalar(out, inp, weight, NULL, bn, ci, co, h, w, y0, rows);
}

#endif
