// 2x2 max-pool (stride 2) without the argmax, for inference. The maximum of each window, NaN
// if the window holds one (as the training kernel, which also records where the maximum was).
#include "CKernels.h"
#include <stddef.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define CK_X86 1
#include <immintrin.h>
#endif

static inline float ck_nanmax(float best, float v) { return (v > best || v != v) ? v : best; }

static void ck_pool_scalar(float *out, const float *inp, int planes, int h, int w) {
    const int ho = h / 2, wo = w / 2;
    for (int p = 0; p < planes; p++) {
        const float *x = inp + (size_t)p * h * w;
        float *y = out + (size_t)p * ho * wo;
        for (int oy = 0; oy < ho; oy++) {
            const float *r0 = x + (size_t)(2 * oy) * w, *r1 = r0 + w;
            for (int ox = 0; ox < wo; ox++) {
                float best = r0[2 * ox];
                best = ck_nanmax(best, r0[2 * ox + 1]);
                best = ck_nanmax(best, r1[2 * ox]);
                best = ck_nanmax(best, r1[2 * ox + 1]);
                y[(size_t)oy * wo + ox] = best;
            }
        }
    }
}

void ck_maxpool2x2_scalar(float *out, const float *inp, int planes, int h, int w) {
    ck_pool_scalar(out, inp, planes, h, w);
}

#ifdef CK_X86

/// max(a, b), NaN when either is NaN (vmaxps alone returns b when a is NaN).
__attribute__((target("avx512f"), always_inline))
static inline __m512 ck_vnanmax(__m512 a, __m512 b) {
    __m512 r = _mm512_max_ps(a, b);
    return _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), a);
}

__attribute__((target("avx512f")))
static void ck_pool_avx512(float *out, const float *inp, int planes, int h, int w) {
    const int ho = h / 2, wo = w / 2;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (int p = 0; p < planes; p++) {
        const float *x = inp + (size_t)p * h * w;
        float *y = out + (size_t)p * ho * wo;
        for (int oy = 0; oy < ho; oy++) {
            const float *r0 = x + (size_t)(2 * oy) * w, *r1 = r0 + w;
            for (int ox = 0; ox < wo; ox += 16) {
                int left = 2 * (wo - ox);  // input columns left in the row
                __mmask16 ma = (__mmask16)(left >= 16 ? 0xFFFFu : ((1u << left) - 1u));
                __mmask16 mb = (__mmask16)(left >= 32 ? 0xFFFFu : left <= 16 ? 0u : ((1u << (left - 16)) - 1u));
                __m512 a = ck_vnanmax(_mm512_maskz_loadu_ps(ma, r0 + 2 * ox), _mm512_maskz_loadu_ps(ma, r1 + 2 * ox));
                __m512 b = ck_vnanmax(_mm512_maskz_loadu_ps(mb, r0 + 2 * ox + 16), _mm512_maskz_loadu_ps(mb, r1 + 2 * ox + 16));
                __m512 m = ck_vnanmax(_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b));
                int n = wo - ox;
                _mm512_mask_storeu_ps(y + (size_t)oy * wo + ox, (__mmask16)(n >= 16 ? 0xFFFFu : ((1u << n) - 1u)), m);
            }
        }
    }
}

void ck_maxpool2x2(float *out, const float *inp, int planes, int h, int w) {
    if (ck_conv3x3_fast_available()) ck_pool_avx512(out, inp, planes, h, w);
    else ck_pool_scalar(out, inp, planes, h, w);
}

#else

void ck_maxpool2x2(float *out, const float *inp, int planes, int h, int w) { ck_pool_scalar(out, inp, planes, h, w); }

#endif
