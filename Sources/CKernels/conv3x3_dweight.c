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
#include "transpose16.h"
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

// ---------------------------------------------------------------------------------------------
// Output-channel-blocked variant (`ck_conv3x3_dweight_packed`): 16 output channels in the lanes.
// Per block of 16 output channels and per sub-chunk of rows (>= 128 pixels), dout is transposed
// to pixel-major vectors D[x] (16 channels, zero at x = -1 and x = w and past o1); then for each
// pair of input channels and each input value in[c][y + ky - 1][q] (one broadcast), 3 FMAs:
// tap kx = 0 with D[q + 1], kx = 1 with D[q], kx = 2 with D[q - 1] (18 zmm accumulators for
// the pair's 2 x 9 taps). No horizontal sums: the accumulators are the 16 channels' gradients,
// kept in scratch between sub-chunks and added into dweight once per call. All loads are
// aligned-or-scalar, no masks.

static int ck_dwp_rows(int w) { return w >= 128 ? 1 : 128 / w; }

size_t ck_conv3x3_dweight_scratch_count(int ci, int w) {
    return (size_t)ci * 144 + (size_t)ck_dwp_rows(w) * (w + 2) * 16 + 16;
}

#ifdef CK_X86

/// CG (1 or 2, compile-time) input channels from c: accm[(c + k) * 9 + t][16] += the sums over
/// rows y0 .. y0 + R - 1 (D for row r at dT + r * (w + 2) * 16 + 16).
__attribute__((target("avx512f"), always_inline))
static inline void ck_dwp_group(float *accm, const float *dT, const float *inp, int c, int h, int w, int y0, int R,
                                const int CG) {
    const size_t hw = (size_t)h * w;
    __m512 acc[2][9];
    for (int k = 0; k < CG; k++)
        for (int t = 0; t < 9; t++) acc[k][t] = _mm512_loadu_ps(accm + ((size_t)(c + k) * 9 + t) * 16);
    for (int r = 0; r < R; r++) {
        const int y = y0 + r;
        const float *D = dT + (size_t)r * (w + 2) * 16 + 16;  // D + 16 x: pixel x, -1 <= x <= w
        for (int ky = 0; ky < 3; ky++) {
            const int sy = y + ky - 1;
            if (sy < 0 || sy >= h) continue;
            const float *r0 = inp + (size_t)c * hw + (size_t)sy * w;
            const float *r1 = r0 + hw;
            for (int q = 0; q < w; q++) {
                const __m512 dn = _mm512_loadu_ps(D + (q + 1) * 16), dc = _mm512_loadu_ps(D + q * 16);
                const __m512 dp = _mm512_loadu_ps(D + (q - 1) * 16);
                const __m512 v0 = _mm512_set1_ps(r0[q]);
                // ky is a loop variable: select the accumulators with a switch so their indices
                // stay compile-time constants (registers)
#define CK_DWP_FMA(KY)                                                                   \
    acc[0][KY * 3] = _mm512_fmadd_ps(v0, dn, acc[0][KY * 3]);                            \
    acc[0][KY * 3 + 1] = _mm512_fmadd_ps(v0, dc, acc[0][KY * 3 + 1]);                    \
    acc[0][KY * 3 + 2] = _mm512_fmadd_ps(v0, dp, acc[0][KY * 3 + 2]);                    \
    if (CG == 2) {                                                                       \
        const __m512 v1 = _mm512_set1_ps(r1[q]);                                         \
        acc[1][KY * 3] = _mm512_fmadd_ps(v1, dn, acc[1][KY * 3]);                        \
        acc[1][KY * 3 + 1] = _mm512_fmadd_ps(v1, dc, acc[1][KY * 3 + 1]);                \
        acc[1][KY * 3 + 2] = _mm512_fmadd_ps(v1, dp, acc[1][KY * 3 + 2]);                \
    }
                if (ky == 0) {
                    CK_DWP_FMA(0)
                } else if (ky == 1) {
                    CK_DWP_FMA(1)
                } else {
                    CK_DWP_FMA(2)
                }
#undef CK_DWP_FMA
            }
        }
    }
    for (int k = 0; k < CG; k++)
        for (int t = 0; t < 9; t++) _mm512_storeu_ps(accm + ((size_t)(c + k) * 9 + t) * 16, acc[k][t]);
}

__attribute__((target("avx512f"), noinline))
static void ck_dwp_pair(float *accm, const float *dT, const float *inp, int c, int h, int w, int y0, int R) {
    ck_dwp_group(accm, dT, inp, c, h, w, y0, R, 2);
}

__attribute__((target("avx512f"), noinline))
static void ck_dwp_single(float *accm, const float *dT, const float *inp, int c, int h, int w, int y0, int R) {
    ck_dwp_group(accm, dT, inp, c, h, w, y0, R, 1);
}

/// D[x][j] = src[j * hw + x] for x < w, j < nj (0 for nj <= j < 16): one row of 16 dout
/// planes, pixel-major; 16 x 16 blocks transposed in registers, the row tail lane by lane.
__attribute__((target("avx512f")))
static void ck_dwp_transpose_row(float *D, const float *src, size_t hw, int w, int nj) {
    int x0 = 0;
    for (; x0 + 16 <= w; x0 += 16) {
        __m512 r[16];
        for (int j = 0; j < 16; j++) r[j] = j < nj ? _mm512_loadu_ps(src + (size_t)j * hw + x0) : _mm512_setzero_ps();
        ck_transpose16(r);
        for (int p = 0; p < 16; p++) _mm512_storeu_ps(D + (size_t)(x0 + p) * 16, r[p]);
    }
    for (int x = x0; x < w; x++)
        for (int j = 0; j < 16; j++) D[(size_t)x * 16 + j] = j < nj ? src[(size_t)j * hw + x] : 0.0f;
}

__attribute__((target("avx512f")))
static void ck_conv3x3_dweight_packed_avx512(float *dweight, const float *dout, const float *inp, int ci, int co,
                                             int h, int w, int nimg, int y0, int rows, int o0, int o1,
                                             float *scratch) {
    const size_t hw = (size_t)h * w;
    const int R = ck_dwp_rows(w);
    float *accm = scratch;  // (ci, 9, 16)
    float *dT = scratch + (size_t)ci * 144;
    for (int ob = o0; ob < o1; ob += 16) {
        const int nj = o1 - ob < 16 ? o1 - ob : 16;
        for (size_t i = 0; i < (size_t)ci * 144; i++) accm[i] = 0.0f;
        for (int b = 0; b < nimg; b++) {
            const float *db = dout + ((size_t)b * co + ob) * hw;
            const float *ib = inp + (size_t)b * ci * hw;
            for (int ys = y0; ys < y0 + rows; ys += R) {
                const int rr = y0 + rows - ys < R ? y0 + rows - ys : R;
                for (int r = 0; r < rr; r++) {
                    float *Dr = dT + (size_t)r * (w + 2) * 16;
                    for (int j = 0; j < 16; j++) {
                        Dr[j] = 0.0f;
                        Dr[(size_t)(w + 1) * 16 + j] = 0.0f;
                    }
                    ck_dwp_transpose_row(Dr + 16, db + (size_t)(ys + r) * w, hw, w, nj);
                }
                int c = 0;
                for (; c + 2 <= ci; c += 2) ck_dwp_pair(accm, dT, ib, c, h, w, ys, rr);
                if (c < ci) ck_dwp_single(accm, dT, ib, c, h, w, ys, rr);
            }
        }
        for (int j = 0; j < nj; j++)
            for (int c = 0; c < ci; c++) {
                float *dw = dweight + ((size_t)(ob + j) * ci + c) * 9;
                for (int t = 0; t < 9; t++) dw[t] += accm[((size_t)c * 9 + t) * 16 + j];
            }
    }
}

void ck_conv3x3_dweight_packed(float *dweight, const float *dout, const float *inp, int ci, int co, int h, int w,
                               int nimg, int y0, int rows, int o0, int o1, float *scratch) {
    if (ck_conv3x3_fast_available()) {
        ck_conv3x3_dweight_packed_avx512(dweight, dout, inp, ci, co, h, w, nimg, y0, rows, o0, o1, scratch);
    } else {
        ck_conv3x3_dweight_scalar(dweight, dout, inp, ci, co, h, w, nimg, y0, rows, o0, o1);
    }
}

#else

void ck_conv3x3_dweight_packed(float *dweight, const float *dout, const float *inp, int ci, int co, int h, int w,
                               int nimg, int y0, int rows, int o0, int o1, float *scratch) {
    (void)scratch;
    ck_conv3x3_dweight_scalar(dweight, dout, inp, ci, co, h, w, nimg, y0, rows, o0, o1);
}

#endif
