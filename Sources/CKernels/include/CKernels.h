// CKernels: hand-written CPU kernels for NeuralEngine (imported only by NeuralEngine).
#ifndef CKERNELS_H
#define CKERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The instruction set the kernels use, decided once: 2 = AVX-512F, 1 = AVX2 + FMA (only the
/// packed 3x3 forward has an AVX2 kernel), 0 = neither (portable C). The environment variable
/// SEGVOL_ENGINE_ISA=avx2 lowers an AVX-512 CPU to 1, SEGVOL_ENGINE_ISA=none any CPU to 0
/// (tests and A/B benchmarks); other values are ignored. Read on the first call.
int ck_engine_isa(void);

/// 1 when the AVX-512 kernels run here (`ck_engine_isa() == 2`), else 0.
int ck_conv3x3_fast_available(void);

/// 3x3 convolution, stride 1, padding 1, of ONE image, output rows [y0, y0 + rows) only.
/// out: (co, h, w), written (not accumulated); inp: (ci, h, w); weight: (co, ci, 3, 3) (OIHW);
/// bias: (co) or NULL. NCHW, no scratch. Uses the AVX-512 kernel when the CPU has it, else
/// the portable scalar loop (`ck_conv3x3_forward_scalar`).
void ck_conv3x3_forward(float *out, const float *inp, const float *weight, const float *bias,
                        int ci, int co, int h, int w, int y0, int rows);

/// Eval-mode batch norm + ReLU applied in the kernel's epilogue: per output channel o,
/// scale = gamma / sqrt(var + eps), y = max(0, (conv + bias - mean) * scale + beta).
/// bias may be NULL (no conv bias); the other pointers hold co values.
typedef struct ck_bn_relu {
    const float *gamma, *beta, *mean, *var, *bias;
    float eps;
} ck_bn_relu;

/// `ck_conv3x3_forward` (weight bias NULL) followed by `bn`'s batch norm and ReLU, in one
/// pass: the convolution result is never written. AVX-512 kernel when available, else scalar.
void ck_conv3x3_bn_relu_forward(float *out, const float *inp, const float *weight, const ck_bn_relu *bn,
                                int ci, int co, int h, int w, int y0, int rows);

/// The portable scalar version of `ck_conv3x3_bn_relu_forward` (same contract), the fallback.
void ck_conv3x3_bn_relu_forward_scalar(float *out, const float *inp, const float *weight, const ck_bn_relu *bn,
                                       int ci, int co, int h, int w, int y0, int rows);

/// The portable scalar version of `ck_conv3x3_forward` (same contract), the fallback.
void ck_conv3x3_forward_scalar(float *out, const float *inp, const float *weight, const float *bias,
                               int ci, int co, int h, int w, int y0, int rows);

/// Floats of the packed weights + bias `ck_conv3x3_pack` writes for (ci, co).
size_t ck_conv3x3_packed_count(int ci, int co);

/// Packs 3x3 weights for `ck_conv3x3_packed_forward`, output-channel blocks ob0 <= ob < ob1 of
/// (co + 15) / 16: per block of 16 output channels, per input channel and tap, the 16 channels'
/// weights side by side ((co + 15) / 16, ci, 9, 16; channels past co zero), then (co rounded up
/// to 16) bias values. Without bn: weights as they are, bias[o] (0 when bias is NULL or past co).
/// With bn (eval batch norm folded in, the maths of `ck_conv3x3_bn_relu_forward`): weights
/// times scale[o] = gamma / sqrt(var + eps), bias shift[o] = beta + (bn->bias - mean) * scale.
/// weight: (co, ci, 3, 3) OIHW; transposed != 0: weight is (ci, co, 3, 3) and the kernel packed
/// is the input gradient's, w'[o][c][ky][kx] = weight[c][o][2 - ky][2 - kx]. packed: 64-byte
/// aligned for speed (not required), `ck_conv3x3_packed_count` floats.
void ck_conv3x3_pack(float *packed, const float *weight, const float *bias, const ck_bn_relu *bn, int ci, int co,
                     int transposed, int ob0, int ob1);

/// 3x3 convolution, stride 1, padding 1, of ONE image with packed weights (+ their bias), output
/// rows [y0, y0 + rows): out (co, h, w) = max(0, .) when relu != 0. AVX-512F tiles of 16
/// channels x 16 pixels, no scratch; for 8 <= w < 16, or when `ck_engine_isa() == 1`, the AVX2
/// kernel (8 x 8 tiles); otherwise (w < 8, or no AVX2 + FMA) the scalar version.
void ck_conv3x3_packed_forward(float *out, const float *inp, const float *packed, int relu, int ci, int co, int h,
                               int w, int y0, int rows);

/// The AVX2 + FMA kernel of `ck_conv3x3_packed_forward` (same contract; tiles of 8 output
/// channels x 8 pixels; rows < 8 pixels, or a CPU without AVX2 + FMA, take the scalar loop).
/// `ck_conv3x3_packed_forward` runs it when `ck_engine_isa() == 1`, or for rows of 8..15
/// pixels on AVX-512.
void ck_conv3x3_packed_forward_avx2(float *out, const float *inp, const float *packed, int relu, int ci, int co,
                                    int h, int w, int y0, int rows);

/// The portable scalar version of `ck_conv3x3_packed_forward` (same contract, any w >= 1).
void ck_conv3x3_packed_forward_scalar(float *out, const float *inp, const float *packed, int relu, int ci, int co,
                                      int h, int w, int y0, int rows);

/// Floats of the packed up-conv weights + bias `ck_upconv2x2_pack` writes for (ci, co).
size_t ck_upconv2x2_packed_count(int ci, int co);

/// Floats of scratch `ck_upconv2x2_packed_forward` needs (ci * 64: a 64-pixel chunk of one input row).
size_t ck_upconv2x2_scratch_count(int ci, int co, int w);

/// Packs 2x2 stride-2 transposed-convolution weights (ci, co, 2, 2) and bias (co, or NULL: 0)
/// for `ck_upconv2x2_packed_forward`, output-channel blocks ob0 <= ob < ob1 of (co + 15) / 16:
/// ((co + 15) / 16, ci, 4 taps, 16 channels; channels past co zero), then co rounded up to 16
/// bias values.
void ck_upconv2x2_pack(float *packed, const float *weight, const float *bias, int ci, int co, int ob0, int ob1);

/// 2x2 stride-2 transposed convolution of ONE image, input rows [y0, y0 + rows):
/// out (co, 2h, 2w) rows 2y0 .. 2(y0 + rows) - 1, out[o][2y + a][2x + b] = bias[o] +
/// sum_c inp[c][y][x] * weight[c][o][a][b]; inp (ci, h, w). scratch: `ck_upconv2x2_scratch_count` floats.
/// AVX-512F tiles of 16 channels x 8 pixels x 2 taps; without AVX-512F or for w < 8, the
/// scalar version (scratch unused).
void ck_upconv2x2_packed_forward(float *out, const float *inp, const float *packed, float *scratch, int ci, int co,
                                 int h, int w, int y0, int rows);

/// The portable scalar version of `ck_upconv2x2_packed_forward` (same contract).
void ck_upconv2x2_packed_forward_scalar(float *out, const float *inp, const float *packed, int ci, int co, int h,
                                        int w, int y0, int rows);

/// Weight gradient of `ck_conv3x3_forward`, ACCUMULATED (+=) into dweight (co, ci, 3, 3):
/// dweight[o, c, ky, kx] += sum over images b < nimg and output rows y0 <= y < y0 + rows of
/// dout[b, o, y, x] * inp[b, c, y + ky - 1, x + kx - 1] (zero outside the image), for output
/// channels o0 <= o < o1 only. dout: nimg images (co, h, w); inp: nimg images (ci, h, w).
/// AVX-512 kernel when available, else `ck_conv3x3_dweight_scalar`.
void ck_conv3x3_dweight(float *dweight, const float *dout, const float *inp, int ci, int co, int h, int w,
                        int nimg, int y0, int rows, int o0, int o1);

/// Floats of scratch `ck_conv3x3_dweight_packed` needs for ci input channels and rows of w pixels.
size_t ck_conv3x3_dweight_scratch_count(int ci, int w);

/// `ck_conv3x3_dweight` (same contract) with 16 output channels in the vector lanes: dout
/// transposed per block and row sub-chunk into scratch, one broadcast input value per 3 FMAs,
/// the 16 channels' sums kept in scratch (`ck_conv3x3_dweight_scratch_count` floats) and added
/// into dweight once per call. AVX-512F; without it, the scalar version.
void ck_conv3x3_dweight_packed(float *dweight, const float *dout, const float *inp, int ci, int co, int h, int w,
                               int nimg, int y0, int rows, int o0, int o1, float *scratch);

/// The portable scalar version of `ck_conv3x3_dweight` (same contract), the fallback.
void ck_conv3x3_dweight_scalar(float *dweight, const float *dout, const float *inp, int ci, int co, int h, int w,
                               int nimg, int y0, int rows, int o0, int o1);

/// Training-mode batch norm + ReLU backward of ONE channel: n images, pixel i of image b at
/// [b * stride + i], i < hw; y = the ReLU output (y > 0 passes dy), x = the batch-norm input,
/// mu and r = the batch mean and 1/std, gamma = the scale. Overwrites
/// dx = gamma * r * (g - mean(g) - xhat * mean(g * xhat)), g = (y > 0 ? dy : 0), xhat = (x - mu) * r,
/// and writes out[0] = sum of g (dbeta), out[1] = sum of g * xhat (dgamma), out[2] = sum of dx.
/// dx may alias dy. AVX-512 when available, else `ck_bn_relu_backward_scalar`.
void ck_bn_relu_backward(float *dx, const float *dy, const float *y, const float *x, int n, size_t stride, int hw,
                         float mu, float r, float gamma, double out[3]);

/// The portable scalar version of `ck_bn_relu_backward` (same contract), the fallback.
void ck_bn_relu_backward_scalar(float *dx, const float *dy, const float *y, const float *x, int n, size_t stride, int hw,
                                float mu, float r, float gamma, double out[3]);

/// 2x2 max-pool, stride 2, of `planes` planes (h, w) (even) into (h/2, w/2): the window's
/// maximum, NaN if the window holds a NaN. argmax (planes, h/2, w/2), when not NULL, gets the
/// flat index within the input plane of the value taken: scanning (0,0), (0,1), (1,0), (1,1),
/// a value replaces the best when larger or NaN (first maximum wins ties, as PyTorch's CPU
/// kernel). AVX-512 when available.
void ck_maxpool2x2(float *out, int *argmax, const float *inp, int planes, int h, int w);

/// The portable scalar version of `ck_maxpool2x2` (same contract), the fallback.
void ck_maxpool2x2_scalar(float *out, int *argmax, const float *inp, int planes, int h, int w);

#ifdef __cplusplus
}
#endif
#endif
