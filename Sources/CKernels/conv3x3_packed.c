// Direct 3x3 (pad 1, stride 1) convolution on NCHW activations with output-channel-blocked
// packed weights (the NCHWc16 idea applied to the weights only), AVX-512.
//
// Output tile: 16 output channels (one zmm, lane = channel) x 16 pixels of one row = 16 zmm
// accumulators. Per input channel and kernel row, the 3 weight vectors (16 channels, taps
// kx = 0, 1, 2) are loaded once and each of the 18 input values x0-1 .. x0+16 of the row is
// broadcast once and FMA-ed into the up to 3 accumulators (pixels) it feeds: 3 + 18 loads per 48
// FMAs, all aligned or scalar (no cache-line-splitting vector loads, no masks in the loop).
// The left/right borders skip the out-of-image input value (compile-time variants); the
// rows above/below the image are skipped. The 16 x 16 tile is transposed in registers
// (pixels into lanes) and stored as 16 NCHW row segments. Rows whose width is not a multiple
// of 16 end with a tile overlapping the one before it (same sums, written twice).
#include "CKernels.h"
#include <math.h>
#include <stddef.h>
#include <string.h>

size_t ck_conv3x3_packed_count(int ci, int co) {
    return (size_t)((co + 15) / 16) * 16 * ((size_t)ci * 9 + 1);
}

void ck_conv3x3_pack(float *packed, const float *weight, const float *bias, const ck_bn_relu *bn, int ci, int co,
                     int transposed, int ob0, int ob1) {
    const int blocks = (co + 15) / 16;
    float *bpack = packed + (size_t)blocks * ci * 144;
    for (int ob = ob0; ob < ob1; ob++) {
        float scale[16], shift[16];
        for (int j = 0; j < 16; j++) {
            int o = ob * 16 + j;
            scale[j] = 1.0f;
            shift[j] = 0.0f;
            if (o >= co) continue;
            if (bn) {
                // the eval batch norm of `ck_conv3x3_bn_relu_forward`, folded in
                float s = bn->gamma[o] / sqrtf(bn->var[o] + bn->eps);
                scale[j] = s;
                shift[j] = bn->beta[o] + ((bn->bias ? bn->bias[o] : 0.0f) - bn->mean[o]) * s;
            } else if (bias) {
                shift[j] = bias[o];
            }
        }
        for (int c = 0; c < ci; c++) {
            for (int t = 0; t < 9; t++) {
                float *dst = packed + (((size_t)ob * ci + c) * 9 + t) * 16;
                for (int j = 0; j < 16; j++) {
                    int o = ob * 16 + j;
                    float v = 0.0f;
                    if (o < co) {
                        // transposed: weight is (ci, co, 3, 3) and w'[o][c][t] = weight[c][o][8 - t]
                        v = transposed ? weight[((size_t)c * co + o) * 9 + (8 - t)] : weight[((size_t)o * ci + c) * 9 + t];
                        if (bn) v *= scale[j];
                    }
                    dst[j] = v;
                }
            }
        }
        for (int j = 0; j < 16; j++) bpack[ob * 16 + j] = shift[j];
    }
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#include "transpose16.h"


/// One tile: output channels 16*ob .. +16 (co in total), pixels x0 .. x0+15 of row y.
/// LEFT: x0 == 0 (no input at x0 - 1); RIGHT: x0 + 16 == w (no input at x0 + 16).
__attribute__((target("avx512f"), always_inline))
static inline void ck_ptile(float *out, size_t ostride, const float *inp, const float *wp, const float *bias, int relu,
                            int ci, int co, int h, int w, int y, int ob, int x0, const int LEFT, const int RIGHT) {
    const size_t hw = (size_t)h * w;
    __m512 acc[16];
    const __m512 b = _mm512_loadu_ps(bias + 16 * ob);
#pragma unroll
    for (int p = 0; p < 16; p++) acc[p] = b;
    const int kya = y == 0 ? 1 : 0, kyb = y == h - 1 ? 2 : 3;
    const float *wb = wp + (size_t)ob * ci * 144;
    for (int c = 0; c < ci; c++) {
        const float *wc = wb + (size_t)c * 144;
        const float *ic = inp + c * hw + x0;
        for (int ky = kya; ky < kyb; ky++) {
            const float *r = ic + (size_t)(y + ky - 1) * w;
            const __m512 w0 = _mm512_loadu_ps(wc + ky * 48);
            const __m512 w1 = _mm512_loadu_ps(wc + ky * 48 + 16);
            const __m512 w2 = _mm512_loadu_ps(wc + ky * 48 + 32);
            // input x0 + q feeds pixel q + 1 (tap 0), q (tap 1), q - 1 (tap 2)
            if (!LEFT) acc[0] = _mm512_fmadd_ps(_mm512_set1_ps(r[-1]), w0, acc[0]);
#pragma unroll
            for (int q = 0; q < 16; q++) {
                const __m512 v = _mm512_set1_ps(r[q]);
                if (q + 1 < 16) acc[q + 1] = _mm512_fmadd_ps(v, w0, acc[q + 1]);
                acc[q] = _mm512_fmadd_ps(v, w1, acc[q]);
                if (q >= 1) acc[q - 1] = _mm512_fmadd_ps(v, w2, acc[q - 1]);
            }
            if (!RIGHT) acc[15] = _mm512_fmadd_ps(_mm512_set1_ps(r[16]), w2, acc[15]);
        }
    }
    if (relu) {
        const __m512 z = _mm512_setzero_ps();
#pragma unroll
        for (int p = 0; p < 16; p++) acc[p] = _mm512_max_ps(acc[p], z);
    }
    ck_transpose16(acc);
    const int nj = co - 16 * ob < 16 ? co - 16 * ob : 16;
    float *o = out + (size_t)16 * ob * ostride + (size_t)y * w + x0;
    for (int j = 0; j < nj; j++) _mm512_storeu_ps(o + (size_t)j * ostride, acc[j]);
}

__attribute__((target("avx512f"), noinline))
static void ck_ptile_mid(float *out, size_t os, const float *inp, const float *wp, const float *bias, int relu,
                         int ci, int co, int h, int w, int y, int ob, int x0) {
    ck_ptile(out, os, inp, wp, bias, relu, ci, co, h, w, y, ob, x0, 0, 0);
}
__attribute__((target("avx512f"), noinline))
static void ck_ptile_left(float *out, size_t os, const float *inp, const float *wp, const float *bias, int relu,
                          int ci, int co, int h, int w, int y, int ob, int x0) {
    ck_ptile(out, os, inp, wp, bias, relu, ci, co, h, w, y, ob, x0, 1, 0);
}
__attribute__((target("avx512f"), noinline))
static void ck_ptile_right(float *out, size_t os, const float *inp, const float *wp, const float *bias, int relu,
                           int ci, int co, int h, int w, int y, int ob, int x0) {
    ck_ptile(out, os, inp, wp, bias, relu, ci, co, h, w, y, ob, x0, 0, 1);
}
__attribute__((target("avx512f"), noinline))
static void ck_ptile_both(float *out, size_t os, const float *inp, const float *wp, const float *bias, int relu,
                          int ci, int co, int h, int w, int y, int ob, int x0) {
    ck_ptile(out, os, inp, wp, bias, relu, ci, co, h, w, y, ob, x0, 1, 1);
}

// AVX2 + FMA twin (CPUs without AVX-512F): tiles of 8 output channels (one ymm, half of a
// packed 16-channel block) x 8 pixels of one row = 8 accumulators; per input channel and
// kernel row 3 weight vectors + 10 broadcasts feed 24 FMAs (3 + 8 + 1 = 12 of the 16 ymm
// registers); the 8 x 8 tile is transposed in registers and stored as 8 row segments.

/// r[p] lane j -> r[j] lane p (8 x 8 floats).
__attribute__((target("avx2,fma"), always_inline))
static inline void ck_transpose8(__m256 r[8]) {
    __m256 t[8], s[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        s[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int k = 0; k < 4; k++) {
        r[k] = _mm256_permute2f128_ps(s[k], s[k + 4], 0x20);
        r[k + 4] = _mm256_permute2f128_ps(s[k], s[k + 4], 0x31);
    }
}

/// One tile: output channels 8*oh .. +8 (co in total), pixels x0 .. x0+7 of row y.
/// LEFT: x0 == 0 (no input at x0 - 1); RIGHT: x0 + 8 == w (no input at x0 + 8).
__attribute__((target("avx2,fma"), always_inline))
static inline void ck_ptile8(float *out, size_t ostride, const float *inp, const float *wp, const float *bias, int relu,
                             int ci, int co, int h, int w, int y, int oh, int x0, const int LEFT, const int RIGHT) {
    const size_t hw = (size_t)h * w;
    __m256 acc[8];
    const __m256 b = _mm256_loadu_ps(bias + 8 * oh);
#pragma unroll
    for (int p = 0; p < 8; p++) acc[p] = b;
    const int kya = y == 0 ? 1 : 0, kyb = y == h - 1 ? 2 : 3;
    // the half (oh & 1) of packed 16-channel block oh / 2
    const float *wb = wp + (size_t)(oh >> 1) * ci * 144 + (oh & 1) * 8;
    for (int c = 0; c < ci; c++) {
        const float *wc = wb + (size_t)c * 144;
        const float *ic = inp + c * hw + x0;
        for (int ky = kya; ky < kyb; ky++) {
            const float *r = ic + (size_t)(y + ky - 1) * w;
            const __m256 w0 = _mm256_loadu_ps(wc + ky * 48);
            const __m256 w1 = _mm256_loadu_ps(wc + ky * 48 + 16);
            const __m256 w2 = _mm256_loadu_ps(wc + ky * 48 + 32);
            // input x0 + q feeds pixel q + 1 (tap 0), q (tap 1), q - 1 (tap 2)
            if (!LEFT) acc[0] = _mm256_fmadd_ps(_mm256_broadcast_ss(r - 1), w0, acc[0]);
#pragma unroll
            for (int q = 0; q < 8; q++) {
                const __m256 v = _mm256_broadcast_ss(r + q);
                if (q + 1 < 8) acc[q + 1] = _mm256_fmadd_ps(v, w0, acc[q + 1]);
                acc[q] = _mm256_fmadd_ps(v, w1, acc[q]);
                if (q >= 1) acc[q - 1] = _mm256_fmadd_ps(v, w2, acc[q - 1]);
            }
            if (!RIGHT) acc[7] = _mm256_fmadd_ps(_mm256_broadcast_ss(r + 8), w2, acc[7]);
        }
    }
    if (relu) {
        const __m256 z = _mm256_setzero_ps();
#pragma unroll
        for (int p = 0; p < 8; p++) acc[p] = _mm256_max_ps(acc[p], z);
    }
    ck_transpose8(acc);
    const int nj = co - 8 * oh < 8 ? co - 8 * oh : 8;
    float *o = out + (size_t)8 * oh * ostride + (size_t)y * w + x0;
    for (int j = 0; j < nj; j++) _mm256_storeu_ps(o + (size_t)j * ostride, acc[j]);
}

__attribute__((target("avx2,fma"), noinline))
static void ck_ptile8_mid(float *out, size_t os, const float *inp, const float *wp, const float *bias, int relu,
                          int ci, int co, int h, int w, int y, int oh, int x0) {
    ck_ptile8(out, os, inp, wp, bias, relu, ci, co, h, w, y, oh, x0, 0, 0);
}
__attribute__((target("avx2,fma"), noinline))
static void ck_ptile8_left(float *out, size_t os, const float *inp, const float *wp, const float *bias, int relu,
                           int ci, int co, int h, int w, int y, int oh, int x0) {
    ck_ptile8(out, os, inp, wp, bias, relu, ci, co, h, w, y, oh, x0, 1, 0);
}
__attribute__((target("avx2,fma"), noinline))
static void ck_ptile8_right(float *out, size_t os, const float *inp, const float *wp, const float *bias, int relu,
                            int ci, int co, int h, int w, int y, int oh, int x0) {
    ck_ptile8(out, os, inp, wp, bias, relu, ci, co, h, w, y, oh, x0, 0, 1);
}
__attribute__((target("avx2,fma"), noinline))
static void ck_ptile8_both(float *out, size_t os, const float *inp, const float *wp, const float *bias, int relu,
                           int ci, int co, int h, int w, int y, int oh, int x0) {
    ck_ptile8(out, os, inp, wp, bias, relu, ci, co, h, w, y, oh, x0, 1, 1);
}

static int ck_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

void ck_conv3x3_packed_forward_avx2(float *out, const float *inp, const float *packed, int relu, int ci, int co,
                                    int h, int w, int y0, int rows) {
    if (w < 8 || !ck_has_avx2_fma()) {
        ck_conv3x3_packed_forward_scalar(out, inp, packed, relu, ci, co, h, w, y0, rows);
        return;
    }
    const int halves = (co + 7) / 8;
    const float *bias = packed + (size_t)((co + 15) / 16) * ci * 144;
    const size_t hw = (size_t)h * w;
    for (int oh = 0; oh < halves; oh++) {
        for (int y = y0; y < y0 + rows; y++) {
            if (w == 8) {
                ck_ptile8_both(out, hw, inp, packed, bias, relu, ci, co, h, w, y, oh, 0);
                continue;
            }
            ck_ptile8_left(out, hw, inp, packed, bias, relu, ci, co, h, w, y, oh, 0);
            int x0 = 8;
            for (; x0 + 8 < w; x0 += 8) ck_ptile8_mid(out, hw, inp, packed, bias, relu, ci, co, h, w, y, oh, x0);
            ck_ptile8_right(out, hw, inp, packed, bias, relu, ci, co, h, w, y, oh, w - 8);
        }
    }
}

void ck_conv3x3_packed_forward(float *out, const float *inp, const float *packed, int relu, int ci, int co, int h,
                               int w, int y0, int rows) {
    const int isa = ck_engine_isa();
    if (isa == 1 || (isa == 2 && w >= 8 && w < 16)) {
        ck_conv3x3_packed_forward_avx2(out, inp, packed, relu, ci, co, h, w, y0, rows);
        return;
    }
    if (w < 16 || isa != 2) {
        ck_conv3x3_packed_forward_scalar(out, inp, packed, relu, ci, co, h, w, y0, rows);
        return;
    }
    const int blocks = (co + 15) / 16;
    const float *bias = packed + (size_t)blocks * ci * 144;
    const size_t hw = (size_t)h * w;
    for (int ob = 0; ob < blocks; ob++) {
        for (int y = y0; y < y0 + rows; y++) {
            if (w == 16) {
                ck_ptile_both(out, hw, inp, packed, bias, relu, ci, co, h, w, y, ob, 0);
                continue;
            }
            ck_ptile_left(out, hw, inp, packed, bias, relu, ci, co, h, w, y, ob, 0);
            int x0 = 16;
            for (; x0 + 16 < w; x0 += 16) ck_ptile_mid(out, hw, inp, packed, bias, relu, ci, co, h, w, y, ob, x0);
            ck_ptile_right(out, hw, inp, packed, bias, relu, ci, co, h, w, y, ob, w - 16);
        }
    }
}

#else

void ck_conv3x3_packed_forward(float *out, const float *inp, const float *packed, int relu, int ci, int co, int h,
                               int w, int y0, int rows) {
    ck_conv3x3_packed_forward_scalar(out, inp, packed, relu, ci, co, h, w, y0, rows);
}

void ck_conv3x3_packed_forward_avx2(float *out, const float *inp, const float *packed, int relu, int ci, int co,
                                    int h, int w, int y0, int rows) {
    ck_conv3x3_packed_forward_scalar(out, inp, packed, relu, ci, co, h, w, y0, rows);
}

#endif

void ck_conv3x3_packed_forward_scalar(float *out, const float *inp, const float *packed, int relu, int ci, int co,
                                      int h, int w, int y0, int rows) {
    const int blocks = (co + 15) / 16;
    const float *bias = packed + (size_t)blocks * ci * 144;
    const size_t hw = (size_t)h * w;
    for (int o = 0; o < co; o++) {
        const float *wo = packed + (size_t)(o / 16) * ci * 144 + (o % 16);
        for (int y = y0; y < y0 + rows; y++) {
            float *orow = out + o * hw + (size_t)y * w;
            for (int x = 0; x < w; x++) {
                float s = bias[o];
                for (int c = 0; c < ci; c++) {
                    for (int ky = 0; ky < 3; ky++) {
                        int sy = y + ky - 1;
                        if (sy < 0 || sy >= h) continue;
                        for (int kx = 0; kx < 3; kx++) {
                            int sx = x + kx - 1;
                            if (sx < 0 || sx >= w) continue;
                            s += wo[((size_t)c * 9 + ky * 3 + kx) * 16] * inp[c * hw + (size_t)sy * w + sx];
                        }
                    }
                }
                orow[x] = relu && !(s > 0) ? 0.0f : s;
            }
        }
    }
}
