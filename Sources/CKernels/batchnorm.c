// Training-mode batch norm + ReLU backward for one channel, two passes over its pixels:
// (1) the sums of g = (y > 0 ? dy : 0) and g * (x - mean); (2) the input gradient
// dx = gamma * rstd * (g - mean(g) - xhat * mean(g * xhat)) and the sum of dx (the bias
// gradient of the convolution before the batch norm). Float lanes are flushed into Double
// every 256 elements, as the Swift reductions do.
#include "CKernels.h"
#include <stddef.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define CK_X86 1
#include <immintrin.h>
#endif

#define CK_FLUSH 256

static void ck_bnb_scalar(float *dx, const float *dy, const float *y, const float *x, int n, size_t stride, int hw,
                          float mu, float r, float gamma, double out[3]) {
    double sum = 0, sumX = 0;
    for (int b = 0; b < n; b++) {
        const float *dyb = dy + b * stride, *yb = y + b * stride, *xb = x + b * stride;
        for (int s = 0; s < hw; s += CK_FLUSH) {
            int e = s + CK_FLUSH < hw ? s + CK_FLUSH : hw;
            float ps = 0, px = 0;
            for (int i = s; i < e; i++) {
                float g = yb[i] > 0 ? dyb[i] : 0.0f;
                ps += g;
                px += g * (xb[i] - mu);
            }
            sum += ps;
            sumX += px;
        }
    }
    double m = (double)n * hw;
    float k = gamma * r, meanDy = (float)(sum / m), meanDyXhat = (float)(sumX * r / m);
    float a = k * r * meanDyXhat, c0 = k * meanDy;
    double dsum = 0;
    for (int b = 0; b < n; b++) {
        const float *dyb = dy + b * stride, *yb = y + b * stride, *xb = x + b * stride;
        float *dxb = dx + b * stride;
        for (int s = 0; s < hw; s += CK_FLUSH) {
            int e = s + CK_FLUSH < hw ? s + CK_FLUSH : hw;
            float pd = 0;
            for (int i = s; i < e; i++) {
                float g = yb[i] > 0 ? dyb[i] : 0.0f;
                float v = k * g - c0 - a * (xb[i] - mu);
                dxb[i] = v;
                pd += v;
            }
            dsum += pd;
        }
    }
    out[0] = sum;
    out[1] = sumX * r;
    out[2] = dsum;
}

void ck_bn_relu_backward_scalar(float *dx, const float *dy, const float *y, const float *x, int n, size_t stride, int hw,
                                float mu, float r, float gamma, double out[3]) {
    ck_bnb_scalar(dx, dy, y, x, n, stride, hw, mu, r, gamma, out);
}

#ifdef CK_X86

static inline __mmask16 ck_bnb_tail(int count) { return (__mmask16)(count >= 16 ? 0xFFFFu : ((1u << count) - 1u)); }

__attribute__((target("avx512f")))
static void ck_bnb_avx512(float *dx, const float *dy, const float *y, const float *x, int n, size_t stride, int hw,
                          float mu, float r, float gamma, double out[3]) {
    const __m512 zero = _mm512_setzero_ps(), vmu = _mm512_set1_ps(mu);
    double sum = 0, sumX = 0;
    for (int b = 0; b < n; b++) {
        const float *dyb = dy + b * stride, *yb = y + b * stride, *xb = x + b * stride;
        for (int s = 0; s < hw; s += CK_FLUSH) {
            int e = s + CK_FLUSH < hw ? s + CK_FLUSH : hw;
            __m512 ps = zero, px = zero;
            for (int i = s; i < e; i += 16) {
                __mmask16 m = ck_bnb_tail(e - i);
                __m512 yv = _mm512_maskz_loadu_ps(m, yb + i);
                __mmask16 pos = _mm512_mask_cmp_ps_mask(m, yv, zero, _CMP_GT_OQ);
                __m512 g = _mm512_maskz_loadu_ps(pos, dyb + i);
                __m512 xv = _mm512_maskz_loadu_ps(m, xb + i);
                ps = _mm512_add_ps(ps, g);
                px = _mm512_fmadd_ps(g, _mm512_sub_ps(xv, vmu), px);
            }
            sum += _mm512_reduce_add_ps(ps);
            sumX += _mm512_reduce_add_ps(px);
        }
    }
    double m = (double)n * hw;
    float k = gamma * r, meanDy = (float)(sum / m), meanDyXhat = (float)(sumX * r / m);
    const __m512 vk = _mm512_set1_ps(k), vc0 = _mm512_set1_ps(k * meanDy), va = _mm512_set1_ps(k * r * meanDyXhat);
    double dsum = 0;
    for (int b = 0; b < n; b++) {
        const float *dyb = dy + b * stride, *yb = y + b * stride, *xb = x + b * stride;
        float *dxb = dx + b * stride;
        for (int s = 0; s < hw; s += CK_FLUSH) {
            int e = s + CK_FLUSH < hw ? s + CK_FLUSH : hw;
            __m512 pd = zero;
            for (int i = s; i < e; i += 16) {
                __mmask16 m = ck_bnb_tail(e - i);
                __m512 yv = _mm512_maskz_loadu_ps(m, yb + i);
                __mmask16 pos = _mm512_mask_cmp_ps_mask(m, yv, zero, _CMP_GT_OQ);
                __m512 g = _mm512_maskz_loadu_ps(pos, dyb + i);
                __m512 xv = _mm512_maskz_loadu_ps(m, xb + i);
                // k*g - k*meanDy - a*(x - mu)
                __m512 v = _mm512_fnmadd_ps(va, _mm512_sub_ps(xv, vmu), _mm512_fmsub_ps(vk, g, vc0));
                v = _mm512_maskz_mov_ps(m, v);
                _mm512_mask_storeu_ps(dxb + i, m, v);
                pd = _mm512_add_ps(pd, v);
            }
            dsum += _mm512_reduce_add_ps(pd);
        }
    }
    out[0] = sum;
    out[1] = sumX * r;
    out[2] = dsum;
}

void ck_bn_relu_backward(float *dx, const float *dy, const float *y, const float *x, int n, size_t stride, int hw,
                         float mu, float r, float gamma, double out[3]) {
    if (ck_conv3x3_fast_available()) ck_bnb_avx512(dx, dy, y, x, n, stride, hw, mu, r, gamma, out);
    else ck_bnb_scalar(dx, dy, y, x, n, stride, hw, mu, r, gamma, out);
}

#else

void ck_bn_relu_backward(float *dx, const float *dy, const float *y, const float *x, int n, size_t stride, int hw,
                         float mu, float r, float gamma, double out[3]) {
    ck_bnb_scalar(dx, dy, y, x, n, stride, hw, mu, r, gamma, out);
}

#endif
