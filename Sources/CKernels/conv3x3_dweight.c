// Weight gradient of the 3x3 (pad 1, stride 1) convolution on NCHW, without an im2col copy.
//
// dW[o, c, ky, kx] += sum over images and output pixels p of dout[o, p] * inp[c, p + (ky-1, kx-1)].
// AVX-512 register block: COB output channels x the 9 taps of one input channel = 9*COB zmm
// accumulators, each holding 16 per-lane partial sums. Per 16 output pixels: COB loads of dout
// and 9 (masked, unaligned) loads of the shifted input rows feed 9*COB FMAs. The block's dout
// rows (COB planes of the chunk) stay in L1 while the input channels stream from L2; the lanes
// are summed once per (block, input channel, call), so a call should cover >= ~1000 pixels.
#include "CKernels.h"
#include <stddef.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define CK_X86 1
#include <immintrin.h>
#endif

void ck_conv3x3_dweight_scalar(float *dweight, const float *dout, const float *inp, int ci, int co, int h, int w,
                               int nimg, int y0, int rows, int o0, int o1) {
    const size_t hw = (size_t)h * w;
    for (int o = o0; o < o1; o++) {
        for (int c = 0; c < ci; c++) {
            float *dw = dweight + ((size_t)o * ci + c) * 9;
            for (int ky = 0; ky < 3; ky++) {
                for (int kx = 0; kx < 3; kx++) {
                    float s = 0.0f;
                    int xa = kx == 0 ? 1 : 0, xb = kx == 2 ? w - 1 : w;
                    for (int b = 0; b < nimg; b++) {
                        const float *d = dout + ((size_t)b * co + o) * hw;
                        const float *x = inp + ((size_t)b * ci + c) * hw;
                        for (int y = y0; y < y0 + rows; y++) {
                            int sy = y + ky - 1;
                            if (sy < 0 || sy >= h) continue;
                            const float *drow = d + (size_t)y * w, *xrow = x + (size_t)sy * w + kx - 1;
                            for (int px = xa; px < xb; px++) s += drow[px] * xrow[px];
                        }
                    }
                    dw[ky * 3 + kx] += s;
                }
            }
        }
    }
}

#ifdef CK_X86

/// Lanes l of a 16-wide load at column xs with 0 <= xs + l < w.
static inline __mmask16 ck_dw_lanes(int xs, int w) {
    int lo = xs < 0 ? -xs : 0;
    int hi = w - xs < 16 ? w - xs : 16;
    if (hi <= lo) return 0;
    unsigned m = (hi >= 16 ? 0xFFFFu : ((1u << hi) - 1u)) & ~((1u << lo) - 1u);
    return (__mmask16)m;
}

/// One output row y of a block: taps ky in [KYA, KYB) (compile-time constants at each call
/// site, so every accumulator index is a constant and they all stay in registers).
__attribute__((target("avx512f"), always_inline))
static inline void ck_dw_row(__m512 acc[3][9], const float *drow, const float *xc, size_t hw, int w, int y,
                             const __mmask16 *masks, const int COB, const int KYA, const int KYB) {
    for (int x0 = 0, v = 0; x0 < w; x0 += 16, v += 3) {
        // dout lanes past the row end are zero, so the input masks only keep the loads inside
        // the row (the zero padding of the left/right borders).
        __mmask16 m0 = masks[v], md = masks[v + 1], m2 = masks[v + 2];
        __m512 dv[3];
        for (int j = 0; j < COB; j++) dv[j] = _mm512_maskz_loadu_ps(md, drow + j * hw + x0);
        for (int ky = KYA; ky < KYB; ky++) {
            const float *xr = xc + (size_t)(y + ky - 1) * w + x0;
            __m512 i0 = _mm512_maskz_loadu_ps(m0, xr - 1);
            for (int j = 0; j < COB; j++) acc[j][ky * 3] = _mm512_fmadd_ps(dv[j], i0, acc[j][ky * 3]);
            __m512 i1 = _mm512_maskz_loadu_ps(md, xr);
            for (int j = 0; j < COB; j++) acc[j][ky * 3 + 1] = _mm512_fmadd_ps(dv[j], i1, acc[j][ky * 3 + 1]);
            __m512 i2 = _mm512_maskz_loadu_ps(m2, xr + 1);
            for (int j = 0; j < COB; j++) acc[j][ky * 3 + 2] = _mm512_fmadd_ps(dv[j], i2, acc[j][ky * 3 + 2]);
        }
    }
}

/// COB output channels from o0 (a compile-time constant at each call site), input channels
/// c < cn of `inp` (whose images hold ci channels each; dweight points at input channel 0 of
/// the group).
__attribute__((target("avx512f"), always_inline))
static inline void ck_dw_block(float *dweight, const float *dout, const float *inp, int ci, int cn, int co, int h,
                               int w, int nimg, int y0, int rows, int o0, const __mmask16 *masks, const int COB) {
    const size_t hw = (size_t)h * w;
    for (int c = 0; c < cn; c++) {
        __m512 acc[3][9];
        for (int j = 0; j < COB; j++)
            for (int t = 0; t < 9; t++) acc[j][t] = _mm512_setzero_ps();
        for (int b = 0; b < nimg; b++) {
            const float *d = dout + ((size_t)b * co + o0) * hw;
            const float *x = inp + ((size_t)b * ci + c) * hw;
            for (int y = y0; y < y0 + rows; y++) {
                const float *drow = d + (size_t)y * w;
                if (y > 0 && y < h - 1) ck_dw_row(acc, drow, x, hw, w, y, masks, COB, 0, 3);
                else if (h == 1) ck_dw_row(acc, drow, x, hw, w, y, masks, COB, 1, 2);
                else if (y == 0) ck_dw_row(acc, drow, x, hw, w, y, masks, COB, 1, 3);
                else ck_dw_row(acc, drow, x, hw, w, y, masks, COB, 0, 2);
            }
        }
        for (int j = 0; j < COB; j++) {
            float *dw = dweight + ((size_t)(o0 + j) * ci + c) * 9;
            for (int t = 0; t < 9; t++) dw[t] += _mm512_reduce_add_ps(acc[j][t]);
        }
    }
}

__attribute__((target("avx512f")))
static void ck_conv3x3_dweight_avx512(float *dweight, const float *dout, const float *inp, int ci, int co, int h,
                                      int w, int nimg, int y0, int rows, int o0, int o1) {
    // Per 16-pixel vector of a row: the masks of the loads at x0 - 1, x0 and x0 + 1.
    const int nv = (w + 15) / 16;
    __mmask16 masks[3 * nv];
    for (int v = 0; v < nv; v++) {
        masks[3 * v] = ck_dw_lanes(16 * v - 1, w);
        masks[3 * v + 1] = ck_dw_lanes(16 * v, w);
        masks[3 * v + 2] = ck_dw_lanes(16 * v + 1, w);
    }
    // Blocks of 3 output channels; a remainder of 4 or 2 runs as blocks of 2 (a 1-channel
    // block does 9 input loads per 9 FMAs). (Blocking the input channels in groups of 32 or 64
    // so a group stays in L2 measured the same at every level: not memory-bound.)
    int o = o0;
    while (o < o1) {
        int left = o1 - o;
        if (left == 4 || left == 2) {
            ck_dw_block(dweight, dout, inp, ci, ci, co, h, w, nimg, y0, rows, o, masks, 2);
            o += 2;
        } else if (left >= 3) {
            ck_dw_block(dweight, dout, inp, ci, ci, co, h, w, nimg, y0, rows, o, masks, 3);
            o += 3;
        } else {
            ck_dw_block(dweight, dout, inp, ci, ci, co, h, w, nimg, y0, rows, o, masks, 1);
            o += 1;
        }
    }
}

void ck_conv3x3_dweight(float *dweight, const float *dout, const float *inp, int ci, int co, int h, int w,
                        int nimg, int y0, int rows, int o0, int o1) {
    if (ck_conv3x3_fast_available()) {
        ck_conv3x3_dweight_avx512(dweight, dout, inp, ci, co, h, w, nimg, y0, rows, o0, o1);
    } else {
        ck_conv3x3_dweight_scalar(dweight, dout, inp, ci, co, h, w, nimg, y0, rows, o0, o1);
    }
}

#else

void ck_conv3x3_dweight(float *dweight, const float *dout, const float *inp, int ci, int co, int h, int w,
                        int nimg, int y0, int rows, int o0, int o1) {
    ck_conv3x3_dweight_scalar(dweight, dout, inp, ci, co, h, w, nimg, y0, rows, o0, o1);
}

#endif
