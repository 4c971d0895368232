// 2x2 max-pool (stride 2): the maximum of each window, NaN if the window holds one, and (for
// training) where it was: ties go to the first maximum in window order, a NaN to the last NaN.
#include "CKernels.h"
#include <stddef.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define CK_X86 1
#include <immintrin.h>
#endif

static void ck_pool_scalar(float *out, int *argmax, const float *inp, int planes, int h, int w) {
    const int ho = h / 2, wo = w / 2;
    for (int p = 0; p < planes; p++) {
        const float *x = inp + (size_t)p * h * w;
        float *y = out + (size_t)p * ho * wo;
        for (int oy = 0; oy < ho; oy++) {
            for (int ox = 0; ox < wo; ox++) {
                // window order (0,0), (0,1), (1,0), (1,1); strict > keeps the first maximum, a NaN replaces
                int i0 = 2 * oy * w + 2 * ox, best = i0;
                const int cand[3] = {i0 + 1, i0 + w, i0 + w + 1};
                float value = x[i0];
                for (int t = 0; t < 3; t++) {
                    float v = x[cand[t]];
                    if (v > value || v != v) {
                        value = v;
                        best = cand[t];
                    }
                }
                y[(size_t)oy * wo + ox] = value;
                if (argmax) argmax[(size_t)p * ho * wo + (size_t)oy * wo + ox] = best;
            }
        }
    }
}

void ck_maxpool2x2_scalar(float *out, int *argmax, const float *inp, int planes, int h, int w) {
    ck_pool_scalar(out, argmax, inp, planes, h, w);
}

#ifdef CK_X86

/// max(a, b), NaN when either is NaN (vmaxps alone returns b when a is NaN).
__attribute__((target("avx512f"), always_inline))
static inline __m512 ck_vnanmax(__m512 a, __m512 b) {
    __m512 r = _mm512_max_ps(a, b);
    return _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), a);
}

__attribute__((target("avx512f")))
static void ck_pool_avx512(float *out, int *argmax, const float *inp, int planes, int h, int w) {
    const int ho = h / 2, wo = w / 2;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512i lane2 = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int p = 0; p < planes; p++) {
        const float *x = inp + (size_t)p * h * w;
        float *y = out + (size_t)p * ho * wo;
        int *am = argmax ? argmax + (size_t)p * ho * wo : NULL;
        for (int oy = 0; oy < ho; oy++) {
            const float *r0 = x + (size_t)(2 * oy) * w, *r1 = r0 + w;
            for (int ox = 0; ox < wo; ox += 16) {
                int left = 2 * (wo - ox);  // input columns left in the row
                __mmask16 ma = (__mmask16)(left >= 16 ? 0xFFFFu : ((1u << left) - 1u));
                __mmask16 mb = (__mmask16)(left >= 32 ? 0xFFFFu : left <= 16 ? 0u : ((1u << (left - 16)) - 1u));
                int n = wo - ox;
                __mmask16 mo = (__mmask16)(n >= 16 ? 0xFFFFu : ((1u << n) - 1u));
                __m512 a0 = _mm512_maskz_loadu_ps(ma, r0 + 2 * ox), b0 = _mm512_maskz_loadu_ps(mb, r0 + 2 * ox + 16);
                __m512 a1 = _mm512_maskz_loadu_ps(ma, r1 + 2 * ox), b1 = _mm512_maskz_loadu_ps(mb, r1 + 2 * ox + 16);
                if (!am) {
                    __m512 a = ck_vnanmax(a0, a1), b = ck_vnanmax(b0, b1);
                    __m512 m = ck_vnanmax(_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b));
                    _mm512_mask_storeu_ps(y + (size_t)oy * wo + ox, mo, m);
                    continue;
                }
                // The scalar scan, lane-wise: candidates in window order; v replaces the best
                // when it is larger or NaN, and the index follows.
                __m512 c[4] = {_mm512_permutex2var_ps(a0, even, b0), _mm512_permutex2var_ps(a0, odd, b0),
                               _mm512_permutex2var_ps(a1, even, b1), _mm512_permutex2var_ps(a1, odd, b1)};
                __m512i base = _mm512_add_epi32(_mm512_set1_epi32(2 * oy * w + 2 * ox), lane2);
                const int off[4] = {0, 1, w, w + 1};
                __m512 best = c[0];
                __m512i idx = base;
                for (int t = 1; t < 4; t++) {
                    __mmask16 take = _mm512_cmp_ps_mask(c[t], best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(c[t], c[t], _CMP_UNORD_Q);
                    best = _mm512_mask_mov_ps(best, take, c[t]);
                    idx = _mm512_mask_mov_epi32(idx, take, _mm512_add_epi32(base, _mm512_set1_epi32(off[t])));
                }
                _mm512_mask_storeu_ps(y + (size_t)oy * wo + ox, mo, best);
                _mm512_mask_storeu_epi32(am + (size_t)oy * wo + ox, mo, idx);
            }
        }
    }
}

void ck_maxpool2x2(float *out, int *argmax, const float *inp, int planes, int h, int w) {
    if (ck_conv3x3_fast_available()) ck_pool_avx512(out, argmax, inp, planes, h, w);
    else ck_pool_scalar(out, argmax, inp, planes, h, w);
}

#else

void ck_maxpool2x2(float *out, int *argmax, const float *inp, int planes, int h, int w) {
    ck_pool_scalar(out, argmax, inp, planes, h, w);
}

#endif
