// 2x2 stride-2 transposed convolution (the U-Net's up-sampling) on NCHW with output-channel-
// blocked packed weights, AVX-512: no GEMM column buffer and no scatter pass.
//
// out[o][2y + a][2x + b] = bias[o] + sum_c inp[c][y][x] * weight[c][o][a][b].
// Tile: 16 output channels (lanes) x 8 input pixels x the 2 taps of one output row = 16 zmm
// accumulators; per input channel 2 weight vectors and 8 broadcast inputs feed 16 FMAs. The
// tile is transposed in registers so that each channel's vector holds its 16 output pixels of
// row 2y + a (one full cache line when aligned). The input row is read in chunks of 64 pixels
// copied to a contiguous scratch first (the planes are a power of two apart). Rows whose width is not a multiple of 8 end with a tile
// overlapping the one before it (equal values written twice).
#include "CKernels.h"
#include <stddef.h>
#include <string.h>

size_t ck_upconv2x2_packed_count(int ci, int co) {
    return (size_t)((co + 15) / 16) * 16 * ((size_t)ci * 4 + 1);
}

void ck_upconv2x2_pack(float *packed, const float *weight, const float *bias, int ci, int co, int ob0, int ob1) {
    const int blocks = (co + 15) / 16;
    float *bpack = packed + (size_t)blocks * ci * 64;
    for (int ob = ob0; ob < ob1; ob++) {
        for (int c = 0; c < ci; c++) {
            for (int t = 0; t < 4; t++) {
                float *dst = packed + (((size_t)ob * ci + c) * 4 + t) * 16;
                for (int j = 0; j < 16; j++) {
                    int o = ob * 16 + j;
                    dst[j] = o < co ? weight[((size_t)c * co + o) * 4 + t] : 0.0f;
                }
            }
        }
        for (int j = 0; j < 16; j++) {
            int o = ob * 16 + j;
            bpack[o] = (bias && o < co) ? bias[o] : 0.0f;
        }
    }
}

void ck_upconv2x2_packed_forward_scalar(float *out, const float *inp, const float *packed, int ci, int co, int h,
                                        int w, int y0, int rows) {
    const int blocks = (co + 15) / 16;
    const float *bias = packed + (size_t)blocks * ci * 64;
    const size_t hw = (size_t)h * w, ow = 2 * (size_t)w;
    for (int o = 0; o < co; o++) {
        const float *wo = packed + (size_t)(o / 16) * ci * 64 + (o % 16);
        float *plane = out + (size_t)o * 4 * hw;
        for (int y = y0; y < y0 + rows; y++) {
            for (int x = 0; x < w; x++) {
                for (int t = 0; t < 4; t++) {
                    float s = bias[o];
                    for (int c = 0; c < ci; c++) s += wo[((size_t)c * 4 + t) * 16] * inp[c * hw + (size_t)y * w + x];
                    plane[(2 * (size_t)y + t / 2) * ow + 2 * x + t % 2] = s;
                }
            }
        }
    }
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#include "transpose16.h"


/// One tile: output channels 16*ob .. (nj of them), input pixels xs .. xs+7 of row y (their
/// values at s[c * 64 + t0 + p], the row chunk copied to scratch), output row 2y + a.
__attribute__((target("avx512f"), noinline))
static void ck_up_tile(float *out, const float *s, int t0, const float *wb, const float *bias16, int ci, int nj,
                       int h, int w, int y, int xs, int a) {
    const size_t hw = (size_t)h * w, ow = 2 * (size_t)w;
    __m512 acc[16];  // acc[p * 2 + b]: pixel xs + p, tap (a, b)
    const __m512 bv = _mm512_loadu_ps(bias16);
#pragma unroll
    for (int i = 0; i < 16; i++) acc[i] = bv;
    const float *wa = wb + a * 32;
    for (int c = 0; c < ci; c++) {
        const __m512 w0 = _mm512_loadu_ps(wa + (size_t)c * 64), w1 = _mm512_loadu_ps(wa + (size_t)c * 64 + 16);
        const float *r = s + (size_t)c * 64 + t0;
#pragma unroll
        for (int p = 0; p < 8; p++) {
            const __m512 v = _mm512_set1_ps(r[p]);
            acc[p * 2] = _mm512_fmadd_ps(v, w0, acc[p * 2]);
            acc[p * 2 + 1] = _mm512_fmadd_ps(v, w1, acc[p * 2 + 1]);
        }
    }
    ck_transpose16(acc);  // acc[j]: channel j's 16 output pixels 2xs .. 2xs + 15 of row 2y + a
    float *o = out + (2 * (size_t)y + a) * ow + 2 * (size_t)xs;
    for (int j = 0; j < nj; j++) _mm512_storeu_ps(o + (size_t)j * 4 * hw, acc[j]);
}

void ck_upconv2x2_packed_forward(float *out, const float *inp, const float *packed, float *scratch, int ci, int co,
                                 int h, int w, int y0, int rows) {
    if (w < 8 || !ck_conv3x3_fast_available()) {
        ck_upconv2x2_packed_forward_scalar(out, inp, packed, ci, co, h, w, y0, rows);
        return;
    }
    const int blocks = (co + 15) / 16;
    const float *bias = packed + (size_t)blocks * ci * 64;
    const size_t hw = (size_t)h * w;
    for (int y = y0; y < y0 + rows; y++) {
        for (int xc = 0; xc < w; xc += 64) {
            // a chunk of <= 64 input pixels of all ci channels, copied contiguously: the planes
            // are a power of two apart, so reading them in place makes every channel's line
            // compete for the same cache sets
            int xe = xc + 64 < w ? xc + 64 : w, xb = xe - xc < 8 ? xe - 8 : xc, len = xe - xb;
            for (int c = 0; c < ci; c++) {
                const float *src = inp + c * hw + (size_t)y * w + xb;
                float *dst = scratch + (size_t)c * 64;
                for (int i = 0; i < len; i++) dst[i] = src[i];
            }
            for (int ob = 0; ob < blocks; ob++) {
                const float *wb = packed + (size_t)ob * ci * 64;
                const int nj = co - 16 * ob < 16 ? co - 16 * ob : 16;
                float *ob_out = out + (size_t)16 * ob * 4 * hw;
                for (int a = 0; a < 2; a++) {
                    int t = 0;
                    for (; t + 8 <= len; t += 8) ck_up_tile(ob_out, scratch, t, wb, bias + 16 * ob, ci, nj, h, w, y, xb + t, a);
                    if (t < len) ck_up_tile(ob_out, scratch, len - 8, wb, bias + 16 * ob, ci, nj, h, w, y, xb + len - 8, a);
                }
            }
        }
    }
}

#else

void ck_upconv2x2_packed_forward(float *out, const float *inp, const float *packed, float *scratch, int ci, int co,
                                 int h, int w, int y0, int rows) {
    (void)scratch;
    ck_upconv2x2_packed_forward_scalar(out, inp, packed, ci, co, h, w, y0, rows);
}

#endif

size_t ck_upconv2x2_scratch_count(int ci, int co, int w) {
    (void)co;
    (void)w;
    return (size_t)ci * 64;
}
