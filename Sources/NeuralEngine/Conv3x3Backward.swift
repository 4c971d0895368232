internal import CKernels
#if canImport(Glibc)
import Glibc
#endif

// Backward of the direct 3x3 convolution (stride 1, pad 1) on NCHW without im2col: the weight
// gradient through the C kernel `ck_conv3x3_dweight` (register-blocked AVX-512 accumulation over
// pixels), the input gradient through the direct forward kernel with transposed, rotated
// weights. `conv2dBackward` (im2col + GEMM) and `conv2dBackwardNaive` stay the references.

/// Whether the training forward and backward use the direct kernels: when they are vectorised
/// here (AVX-512; the AVX2 route trains on im2col + GEMM) and neither `SEGVOL_ENGINE_GEMM_CONV`
/// (all convolutions on im2col + GEMM) nor `SEGVOL_ENGINE_GEMM_TRAIN` (training only) is set in
/// the environment. Read once.
let conv3x3DirectTraining: Bool = conv3x3DirectEnabled && conv3x3DirectAvailable
    && getenv("SEGVOL_ENGINE_GEMM_TRAIN") == nil

/// Pixels one weight-gradient work item should cover: the kernel sums its 16 lanes once per
/// (output block, input channel, item), so items of fewer pixels pay more for that.
let conv3x3WeightGradItemPixels = 2048

/// The work split of `conv3x3WeightGradient`: pixel chunks (nimg images of `rows` rows from
/// row y0 each) and output-channel groups. With fewer chunks than 2 x workers (the deep, small
/// levels) the whole batch is one chunk and the output channels are split instead, so the
/// workers write disjoint rows of dweight and need no partials.
struct WeightGradSplit: Equatable {
    /// Images per chunk, rows per chunk, chunks per image (rows < h) or image groups.
    let imagesPerChunk: Int, rows: Int, chunksPerImage: Int, chunks: Int
    /// Output-channel groups (1 unless the pixels are too few to split).
    let groups: Int

    init(imagesPerChunk: Int, rows: Int, chunksPerImage: Int, chunks: Int, groups: Int) {
        self.imagesPerChunk = imagesPerChunk
        self.rows = rows
        self.chunksPerImage = chunksPerImage
        self.chunks = chunks
        self.groups = groups
    }

    init(n: Int, co: Int, h: Int, w: Int, workers: Int) {
        let hw = h * w
        if hw >= conv3x3WeightGradItemPixels {
            imagesPerChunk = 1
            rows = max(1, min(h, conv3x3WeightGradItemPixels / max(w, 1)))
            chunksPerImage = (h + rows - 1) / rows
            chunks = n * chunksPerImage
        } else {
            imagesPerChunk = max(1, min(n, conv3x3WeightGradItemPixels / max(hw, 1)))
            rows = h
            chunksPerImage = 1
            chunks = (n + imagesPerChunk - 1) / imagesPerChunk
        }
        groups = workers > 1 && chunks < 2 * workers ? min(max(1, (co + 2) / 3), 2 * workers) : 1
    }

    /// Whether work items write disjoint parts of dweight (no per-worker partials needed).
    var disjoint: Bool { chunks == 1 }
}

/// Weight gradient of a 3x3 "same" convolution, ACCUMULATED: dweight (Co, Ci, 3, 3) +=
/// sum over images and pixels of dout x shifted input. dout: (N, Co, H, W); inp: (N, Ci, H, W).
/// partials: `workers` x (Co*Ci*9) scratch, used when several workers share pixel chunks.
/// scratch: nil, or `workers` x `conv3x3WeightGradScratchCount(ci, w)` floats: the kernel with
/// 16 output channels in the lanes (`ck_conv3x3_dweight_packed`) runs; nil keeps the kernel
/// with pixels in the lanes (`ck_conv3x3_dweight`). `scalar` forces the portable C loop (tests).
func conv3x3WeightGradient(
    dweight: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>,
    n: Int, ci: Int, co: Int, h: Int, w: Int, partials: UnsafeMutablePointer<Float>,
    workers: Int = 1, scalar: Bool = false, scratch: UnsafeMutablePointer<Float>? = nil
) {
    let hw = h * w
    let split = WeightGradSplit(n: n, co: co, h: h, w: w, workers: workers)
    let items = split.chunks * split.groups
    let active = min(workers, items)
    let usePartials = active > 1 && !split.disjoint
    let count = co * ci * 9
    if usePartials { partials.update(repeating: 0, count: active * count) }
    let packed = scratch != nil && !scalar
    var perGroup = (co + split.groups - 1) / split.groups
    if packed { perGroup = (perGroup + 15) / 16 * 16 }  // whole 16-channel blocks per group
    let scratchStride = conv3x3WeightGradScratchCount(ci: ci, w: w)
    let kernel = scalar ? ck_conv3x3_dweight_scalar : ck_conv3x3_dweight
    parallelFor(items, workers: workers) { item, worker in
        let chunk = item / split.groups, group = item % split.groups
        let o0 = group * perGroup, o1 = min(co, o0 + perGroup)
        guard o0 < o1 else { return }
        let b0: Int, nimg: Int, y0: Int, rows: Int
        if split.chunksPerImage > 1 {
            b0 = chunk / split.chunksPerImage
            nimg = 1
            y0 = (chunk % split.chunksPerImage) * split.rows
            rows = min(split.rows, h - y0)
        } else {
            b0 = chunk * split.imagesPerChunk
            nimg = min(split.imagesPerChunk, n - b0)
            y0 = 0
            rows = h
        }
        let target = usePartials ? partials + worker * count : dweight
        if packed, let scratch {
            ck_conv3x3_dweight_packed(target, dout + b0 * co * hw, inp + b0 * ci * hw, Int32(ci), Int32(co), Int32(h),
                                      Int32(w), Int32(nimg), Int32(y0), Int32(rows), Int32(o0), Int32(o1),
                                      scratch + worker * scratchStride)
        } else {
            kernel(target, dout + b0 * co * hw, inp + b0 * ci * hw, Int32(ci), Int32(co), Int32(h), Int32(w),
                   Int32(nimg), Int32(y0), Int32(rows), Int32(o0), Int32(o1))
        }
    }
    if usePartials {
        for wk in 0..<active {
            let part = partials + wk * count
            for i in 0..<count { dweight[i] += part[i] }
        }
    }
}

/// Floats of per-worker scratch the 16-channel weight-gradient kernel needs (`workers` x this).
func conv3x3WeightGradScratchCount(ci: Int, w: Int) -> Int {
    Int(ck_conv3x3_dweight_scratch_count(Int32(ci), Int32(w)))
}

/// Floats of per-worker partials `conv3x3WeightGradient` needs (`workers` x this).
func conv3x3WeightGradPartialCount(ci: Int, co: Int) -> Int { co * ci * 9 }

/// Backward of a 3x3 "same" convolution with the direct kernels: the same contract as
/// `conv2dBackward` with k = 3 (dinp overwritten when given, dweight and dbias accumulate;
/// a nil dbias is skipped: `batchNormReluTrainBackward` can sum it on the way),
/// without column scratch. flipped: (Ci, Co, 3, 3) scratch; partials: `workers` x
/// `conv3x3WeightGradPartialCount` scratch; packed: nil or `conv3x3PackedCount(ci: co, co: ci)`
/// floats, the input gradient then runs the packed-weight kernel (no flipped copy);
/// weightGradScratch: nil or `workers` x `conv3x3WeightGradScratchCount(ci, w)` floats, the
/// weight gradient then runs the 16-channel kernel.
func conv3x3BackwardDirect(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    n: Int, ci: Int, co: Int, h: Int, w: Int, flipped: UnsafeMutablePointer<Float>,
    partials: UnsafeMutablePointer<Float>, workers: Int = 1, scalar: Bool = false,
    packed: UnsafeMutablePointer<Float>? = nil, weightGradScratch: UnsafeMutablePointer<Float>? = nil
) {
    let hw = h * w
    // dbias (Co) += sum over images and pixels of dout (nil: the caller has it already).
    if let dbias {
        parallelFor(co, workers: workers) { o, _ in
        var s = 0.0
        for b in 0..<n { s += reduceSum(dout + (b * co + o) * hw, hw) }
        dbias[o] += Float(s)
        }
    }
    conv3x3WeightGradient(dweight: dweight, dout: dout, inp: inp, n: n, ci: ci, co: co, h: h, w: w,
                          partials: partials, workers: workers, scalar: scalar, scratch: weightGradScratch)
    guard let dinp else { return }
    if let packed, conv3x3PackedApplies(w: w, scalar: scalar) {
        conv3x3ForwardDirect(out: dinp, inp: dout, weight: weight, bias: nil, n: n, ci: co, co: ci, h: h, w: w,
                             workers: workers, scalar: scalar, packed: packed, transposedWeight: true)
        return
    }
    // dinp = dout convolved with flipped[c, o, ky, kx] = weight[o, c, 2 - ky, 2 - kx]
    for o in 0..<co {
        for c in 0..<ci {
            for t in 0..<9 { flipped[(c * co + o) * 9 + t] = weight[(o * ci + c) * 9 + (8 - t)] }
        }
    }
    conv3x3ForwardDirect(out: dinp, inp: dout, weight: flipped, bias: nil, n: n, ci: co, co: ci, h: h, w: w,
                         workers: workers, scalar: scalar)
}
