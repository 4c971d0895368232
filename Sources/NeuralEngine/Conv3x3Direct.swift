internal import CKernels
#if canImport(Glibc)
import Glibc
#endif

// Direct 3x3 convolution (stride 1, pad 1) on NCHW through the C kernel in Sources/CKernels:
// register-blocked AVX-512 tiles of 8 output channels x 32 pixels, no im2col buffer. Used by
// the inference (eval-mode) forward when the CPU has AVX-512F; everything else keeps the
// im2col + GEMM route of Conv2D.swift, which stays the reference the tests compare against.

/// Whether the AVX-512 kernels (all direct 3x3 kernels, the packed up-conv, the weight
/// gradient) run on this CPU (else they would run scalar loops, far slower than im2col + GEMM,
/// so callers take the GEMM route instead). `SEGVOL_ENGINE_ISA=avx2` turns it off (read once,
/// by `ck_engine_isa`).
let conv3x3DirectAvailable: Bool = ck_conv3x3_fast_available() != 0

/// Whether only the AVX2 + FMA kernel of the packed 3x3 forward is vectorised here (a CPU
/// without AVX-512F, or `SEGVOL_ENGINE_ISA=avx2`): inference then runs its 3x3 convolutions on
/// it (packed weights, folded BN + ReLU), while the up-conv, the head and training keep
/// im2col + GEMM.
let conv3x3PackedAvx2Only: Bool = ck_engine_isa() == 1

/// Whether the eval-mode forward uses the direct kernel: when it is vectorised here and the
/// environment variable `SEGVOL_ENGINE_GEMM_CONV` is not set (that switch keeps the im2col +
/// GEMM route, for A/B benchmarks in one build). Read once.
let conv3x3DirectEnabled: Bool = (conv3x3DirectAvailable || conv3x3PackedAvx2Only)
    && getenv("SEGVOL_ENGINE_GEMM_CONV") == nil

/// Whether the model's 3x3 convolutions (inference, training forward and input gradient) pack
/// their weights for the 16-channel x 16-pixel kernel: unless the environment variable
/// `SEGVOL_ENGINE_UNPACKED_CONV` is set (that keeps the unpacked 8 x 32 kernel, for A/B runs of
/// one build; ignored on the AVX2 route, which has no unpacked kernel). Read once.
let conv3x3PackedEnabled: Bool = conv3x3PackedAvx2Only || getenv("SEGVOL_ENGINE_UNPACKED_CONV") == nil

/// Fewest output pixels per work item (rows are grouped up to this), so small deep-level
/// images are not split into items too small to pay for the hand-off.
let conv3x3DirectItemPixels = 2048

/// Floats of the `packed:` scratch the 3x3 kernels below need for (Ci, Co): the packed weights
/// and bias of `ck_conv3x3_pack` (Co rounded up to 16).
func conv3x3PackedCount(ci: Int, co: Int) -> Int { Int(ck_conv3x3_packed_count(Int32(ci), Int32(co))) }

/// Whether a `packed:` scratch takes the packed-weight kernel for rows of `w` pixels (its
/// AVX-512 tiles are 16 pixels wide; narrower rows keep the unpacked kernel, except on the
/// AVX2 route, which has no unpacked kernel: its tiles are 8 pixels, narrower rows scalar).
func conv3x3PackedApplies(w: Int, scalar: Bool) -> Bool { w >= 16 || scalar || conv3x3PackedAvx2Only }

/// The packed-weight kernel: dispatched by the ISA (`ck_conv3x3_packed_forward`), or forced
/// to the scalar twin or the AVX2 kernel (tests).
private func packedKernel(scalar: Bool, avx2: Bool)
    -> @convention(c) (UnsafeMutablePointer<Float>?, UnsafePointer<Float>?, UnsafePointer<Float>?, Int32, Int32,
                       Int32, Int32, Int32, Int32, Int32) -> Void {
    scalar ? ck_conv3x3_packed_forward_scalar : avx2 ? ck_conv3x3_packed_forward_avx2 : ck_conv3x3_packed_forward
}

/// Packs (weight, bias or folded BN) into `packed` (`conv3x3PackedCount` floats, 64-byte
/// aligned for speed), output-channel blocks of 16 on the workers. `transposed`: weight is (Co', Ci', 3, 3)
/// = (ci, co) here, packed as the input gradient's kernel (transposed, rotated by 180 degrees).
func conv3x3Pack(
    _ packed: UnsafeMutablePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    bn: UnsafePointer<ck_bn_relu>?, ci: Int, co: Int, transposed: Bool, workers: Int
) {
    let blocks = (co + 15) / 16
    parallelFor(blocks, workers: min(workers, blocks)) { ob, _ in
        ck_conv3x3_pack(packed, weight, bias, bn, Int32(ci), Int32(co), transposed ? 1 : 0, Int32(ob), Int32(ob + 1))
    }
}

/// Forward of a 3x3 "same" convolution. out: (N, Co, H, W), overwritten; inp: (N, Ci, H, W);
/// weight: (Co, Ci, 3, 3); bias: (Co) or nil. Work items are (image, row chunk).
/// packed: nil, or `conv3x3PackedCount(ci, co)` floats of scratch (best 64-byte aligned): the weights
/// are packed into it and the packed-weight kernel (16 channels x 16 pixels tiles) runs when
/// `conv3x3PackedApplies`; nil keeps the unpacked kernel (8 channels x 32 pixels).
/// `transposedWeight`: weight is (Ci, Co, 3, 3) and the convolution uses it transposed and
/// rotated (the input gradient's kernel), packed route only.
/// `scalar` forces the portable C loops, `avx2` the packed route's AVX2 kernel (tests).
func conv3x3ForwardDirect(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    n: Int, ci: Int, co: Int, h: Int, w: Int, workers: Int = 1, scalar: Bool = false,
    packed: UnsafeMutablePointer<Float>? = nil, transposedWeight: Bool = false, avx2: Bool = false
) {
    let hw = h * w
    let rows = max(1, min(h, conv3x3DirectItemPixels / max(w, 1)))
    let chunks = (h + rows - 1) / rows
    if let packed, conv3x3PackedApplies(w: w, scalar: scalar || avx2) {
        conv3x3Pack(packed, weight: weight, bias: bias, bn: nil, ci: ci, co: co, transposed: transposedWeight,
                    workers: workers)
        let kernel = packedKernel(scalar: scalar, avx2: avx2)
        parallelFor(n * chunks, workers: workers) { item, _ in
            let b = item / chunks, y0 = (item % chunks) * rows
            kernel(out + b * co * hw, inp + b * ci * hw, packed, 0, Int32(ci), Int32(co), Int32(h), Int32(w),
                   Int32(y0), Int32(min(rows, h - y0)))
        }
        return
    }
    precondition(!transposedWeight, "a transposed weight needs the packed route")
    parallelFor(n * chunks, workers: workers) { item, _ in
        let b = item / chunks, y0 = (item % chunks) * rows
        let r = min(rows, h - y0)
        let o = out + b * co * hw, x = inp + b * ci * hw
        if scalar {
            ck_conv3x3_forward_scalar(o, x, weight, bias, Int32(ci), Int32(co), Int32(h), Int32(w), Int32(y0), Int32(r))
        } else {
            ck_conv3x3_forward(o, x, weight, bias, Int32(ci), Int32(co), Int32(h), Int32(w), Int32(y0), Int32(r))
        }
    }
}

/// `conv3x3ForwardDirect` (no conv bias added to the sum) followed by eval-mode batch norm and
/// ReLU, fused: out = max(0, (conv + bias - runningMean) * gamma / sqrt(runningVar + eps) + beta),
/// the same maths as `batchNormReluEvalForward` with `inputBias: bias`, without writing the
/// convolution result. All per-channel pointers hold Co values; bias may be nil.
/// outImageStride: floats from one output image to the next (default Co*H*W; larger when
/// writing into one half of a concatenation buffer).
/// packed: as for `conv3x3ForwardDirect`; on the packed route the batch norm is folded into the
/// packed weights and bias (weight * scale, shift), so the epilogue is the ReLU alone.
/// `scalar` forces the portable C loop, `avx2` the packed route's AVX2 kernel (tests).
func conv3x3BatchNormReluEvalDirect(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
    runningMean: UnsafePointer<Float>, runningVar: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    n: Int, ci: Int, co: Int, h: Int, w: Int, workers: Int = 1, scalar: Bool = false, outImageStride: Int? = nil,
    packed: UnsafeMutablePointer<Float>? = nil, avx2: Bool = false
) {
    let hw = h * w
    let outStride = outImageStride ?? co * hw
    let rows = max(1, min(h, conv3x3DirectItemPixels / max(w, 1)))
    let chunks = (h + rows - 1) / rows
    let kernel = scalar ? ck_conv3x3_bn_relu_forward_scalar : ck_conv3x3_bn_relu_forward
    var bn = ck_bn_relu(gamma: gamma, beta: beta, mean: runningMean, var: runningVar, bias: bias,
                        eps: BatchNormConstants.eps)
    withUnsafePointer(to: &bn) { bnp in
        if let packed, conv3x3PackedApplies(w: w, scalar: scalar || avx2) {
            conv3x3Pack(packed, weight: weight, bias: nil, bn: bnp, ci: ci, co: co, transposed: false, workers: workers)
            let kernel = packedKernel(scalar: scalar, avx2: avx2)
            parallelFor(n * chunks, workers: workers) { item, _ in
                let b = item / chunks, y0 = (item % chunks) * rows
                kernel(out + b * outStride, inp + b * ci * hw, packed, 1, Int32(ci), Int32(co), Int32(h), Int32(w),
                       Int32(y0), Int32(min(rows, h - y0)))
            }
            return
        }
        parallelFor(n * chunks, workers: workers) { item, _ in
            let b = item / chunks, y0 = (item % chunks) * rows
            kernel(out + b * outStride, inp + b * ci * hw, weight, bnp, Int32(ci), Int32(co), Int32(h), Int32(w),
                   Int32(y0), Int32(min(rows, h - y0)))
        }
    }
}
