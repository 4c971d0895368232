/// The U-Net's shape: the 2D batch-norm U-Net of the paper (two conv-BN-ReLU per level,
/// 2x2 max-pool down, 2x2 transposed-conv up, skip concatenation, 1x1 head).
public struct UNetConfig: Sendable, Equatable, Codable {
    /// Image channels in.
    public var inChannels: Int = 1
    /// Classes out (channels of the logits).
    public var classes: Int = 20
    /// Channels at the top level; level i has `baseWidth << i`.
    public var baseWidth: Int = 32
    /// Number of poolings (levels below the top).
    public var depth: Int = 4
    /// Dropout probability on the bottleneck output in training mode (0: none).
    public var dropout: Float = 0

    public init(inChannels: Int = 1, classes: Int = 20, baseWidth: Int = 32, depth: Int = 4, dropout: Float = 0) {
        self.inChannels = inChannels
        self.classes = classes
        self.baseWidth = baseWidth
        self.depth = depth
        self.dropout = dropout
    }

    /// Channels at level i (0 = top, `depth` = bottleneck).
    public func width(level i: Int) -> Int { baseWidth << i }

    /// Input height and width must be multiples of this.
    public var sizeMultiple: Int { 1 << depth }
}

/// One conv3x3 - batch norm - ReLU unit: where its numbers live in the arena.
struct ConvUnit {
    let ci: Int, co: Int
    /// weight (Co, Ci, 3, 3), bias (Co), gamma (Co), beta (Co): parameter offsets
    let weight: Int, bias: Int, gamma: Int, beta: Int
    /// running mean (Co), running var (Co): buffer offsets
    let runningMean: Int, runningVar: Int
    /// index of `num_batches_tracked` in the arena's counters
    let counter: Int
}

/// Two conv-BN-ReLU units: PyTorch `Sequential(conv, bn, relu, conv, bn, relu)`.
struct DoubleConv {
    let first: ConvUnit, second: ConvUnit
}

/// A layer with a weight and a bias only (the transposed conv and the 1x1 head).
struct WeightBias {
    let ci: Int, co: Int
    /// weight: up (Ci, Co, 2, 2) IOHW, head (Co, Ci, 1, 1) OIHW; bias (Co)
    let weight: Int, bias: Int
}

/// The U-Net's layers and their tensor names, in PyTorch `state_dict` order:
/// `enc.{i}` (i = 0..<depth), `bottleneck`, `up.{i}`, `dec.{i}` (i = 0..<depth), `head`.
/// Inside a double conv, the convolutions are `.0` and `.3`, the batch norms `.1` and `.4`.
struct UNetLayout {
    var enc: [DoubleConv] = []
    var bottleneck: DoubleConv!
    var up: [WeightBias] = []
    var dec: [DoubleConv] = []
    var head: WeightBias!
    var parameters: [(name: String, shape: [Int])] = []
    var buffers: [(name: String, shape: [Int])] = []
    var counters: [String] = []

    init(_ config: UNetConfig) {
        precondition(config.depth >= 1 && config.baseWidth >= 1 && config.classes >= 1 && config.inChannels >= 1)
        var pOffset = 0, bOffset = 0
        func param(_ name: String, _ shape: [Int]) -> Int {
            parameters.append((name, shape))
            defer { pOffset += shape.reduce(1, *) }
            return pOffset
        }
        func buffer(_ name: String, _ shape: [Int]) -> Int {
            buffers.append((name, shape))
            defer { bOffset += shape.reduce(1, *) }
            return bOffset
        }
        func unit(_ prefix: String, _ convIndex: Int, _ ci: Int, _ co: Int) -> ConvUnit {
            let conv = "\(prefix).\(convIndex)", bn = "\(prefix).\(convIndex + 1)"
            let w = param("\(conv).weight", [co, ci, 3, 3])
            let b = param("\(conv).bias", [co])
            let g = param("\(bn).weight", [co])
            let be = param("\(bn).bias", [co])
            let rm = buffer("\(bn).running_mean", [co])
            let rv = buffer("\(bn).running_var", [co])
            counters.append("\(bn).num_batches_tracked")
            return ConvUnit(ci: ci, co: co, weight: w, bias: b, gamma: g, beta: be,
                            runningMean: rm, runningVar: rv, counter: counters.count - 1)
        }
        func double(_ prefix: String, _ ci: Int, _ co: Int) -> DoubleConv {
            DoubleConv(first: unit(prefix, 0, ci, co), second: unit(prefix, 3, co, co))
        }
        for i in 0..<config.depth {
            let ci = i == 0 ? config.inChannels : config.width(level: i - 1)
            enc.append(double("enc.\(i)", ci, config.width(level: i)))
        }
        bottleneck = double("bottleneck", config.width(level: config.depth - 1), config.width(level: config.depth))
        for i in 0..<config.depth {
            let ci = config.width(level: i + 1), co = config.width(level: i)
            up.append(WeightBias(ci: ci, co: co, weight: param("up.\(i).weight", [ci, co, 2, 2]), bias: param("up.\(i).bias", [co])))
        }
        for i in 0..<config.depth {
            dec.append(double("dec.\(i)", 2 * config.width(level: i), config.width(level: i)))
        }
        let top = config.width(level: 0)
        head = WeightBias(ci: top, co: config.classes, weight: param("head.weight", [config.classes, top, 1, 1]),
                          bias: param("head.bias", [config.classes]))
    }
}

/// Activation and gradient buffers of one conv-BN-ReLU unit (workspace offsets).
struct UnitBuffers {
    /// z: conv output WITHOUT its bias (N, Co, H, W); a: ReLU(BN(z + bias)) (N, Co, H, W);
    /// da: dL/da (N, Co, H, W)
    let z: Int, a: Int, da: Int
    /// mean, rstd: batch statistics (Co)
    let mean: Int, rstd: Int
    /// Floats from one image of `a` to the next: Co*H*W, or 2*Co*H*W when `a` is the first
    /// half of a concatenation buffer (an encoder output in a concat-free inference plan).
    var imageStride = 0
}

/// Every buffer one forward (and, for training, backward) pass needs for a batch shape,
/// planned once. A training plan keeps every activation the backward reads and a gradient
/// buffer beside each; an inference plan keeps only the skip connections and reuses two
/// level-sized buffers and one concatenation buffer for everything else (offsets of gradient
/// buffers are then -1 and the backward refuses to run).
struct UNetPlan {
    let n: Int, h: Int, w: Int
    let training: Bool
    /// Worker threads the scratch buffers are sized for.
    let workers: Int
    let input: Int                     // x: (N, Cin, H, W)
    var enc: [[UnitBuffers]] = []      // level i: (N, c_i, H_i, W_i)
    var pooled: [Int] = []             // level i+1 input: (N, c_i, H_{i+1}, W_{i+1})
    var dpooled: [Int] = []
    var argmax: [Int] = []             // Int32 offsets, (N, c_i, H_{i+1}, W_{i+1})
    var bottleneck: [UnitBuffers] = [] // (N, c_d, H_d, W_d)
    var dropped = -1, ddropped = -1, dropMask = -1
    var upOut: [Int] = [], dUpOut: [Int] = []  // (N, c_i, H_i, W_i)
    var cat: [Int] = [], dcat: [Int] = []      // (N, 2 c_i, H_i, W_i)
    var dec: [[UnitBuffers]] = []
    var logits = 0, dlogits = 0        // (N, classes, H, W)
    var dz = -1                        // scratch: largest unit output
    var col = 0                        // scratch: largest im2col chunk / up-conv column
    var flipped = -1                   // scratch: largest (Ci, Co, 3, 3) transposed, rotated weight
    var packed = 0                     // scratch: largest packed 3x3 weight + bias (`conv3x3PackedCount`)
    var dwScratch = -1                 // scratch: workers x the 16-channel weight-gradient kernel's (training)
    var partials = -1                  // scratch: workers x largest weight+bias gradient (backward)
    var floatCount = 0, intCount = 0
    /// Inference writes the encoder outputs and up-conv outputs straight into per-level
    /// concatenation buffers (no concat copy); needs the direct conv kernel's output stride.
    var concatFree = false

    init(config: UNetConfig, layout: UNetLayout, n: Int, h: Int, w: Int, training: Bool, workers: Int) {
        precondition(h % config.sizeMultiple == 0 && w % config.sizeMultiple == 0,
                     "U-Net of depth \(config.depth) needs H and W multiples of \(config.sizeMultiple), got \(h)x\(w)")
        self.n = n
        self.h = h
        self.w = w
        self.training = training
        self.workers = workers
        var fp = WorkspacePlanner()
        var ints = 0
        var maxUnit = 0, maxCol = 0, maxFlipped = config.classes * config.baseWidth, maxPacked = 16, maxDwScratch = 16
        var maxPartial = conv2dPartialCount(ci: config.baseWidth, co: config.classes, k: 1)
        // Inference: two buffers the size of the largest level's activation, ping-ponged.
        let levelMax = n * config.width(level: 0) * h * w
        let s1 = training ? -1 : fp.reserve(levelMax), s2 = training ? -1 : fp.reserve(levelMax)
        let concatFree = !training && conv3x3DirectEnabled
        self.concatFree = concatFree
        let sharedCat = training || concatFree ? -1 : fp.reserve(2 * levelMax)
        // Concat-free inference: level i's buffer (N, 2 c_i, H_i, W_i), planned up front.
        var levelCat: [Int] = []
        func unit(_ u: ConvUnit, _ hl: Int, _ wl: Int, into out: Int?) -> UnitBuffers {
            let count = n * u.co * hl * wl
            maxUnit = max(maxUnit, count)
            // The direct 3x3 kernels need no column scratch.
            if !(training ? conv3x3DirectTraining : conv3x3DirectEnabled) {
                maxCol = max(maxCol, conv2dColumnCount(ci: u.ci, co: u.co, h: hl, w: wl, k: 3))
            }
            maxFlipped = max(maxFlipped, u.ci * u.co * 9)
            maxPacked = max(maxPacked, conv3x3PackedCount(ci: u.ci, co: u.co))
            if training {
                maxPacked = max(maxPacked, conv3x3PackedCount(ci: u.co, co: u.ci))  // input gradient
                maxDwScratch = max(maxDwScratch, conv3x3WeightGradScratchCount(ci: u.ci, w: wl))
            }
            maxPartial = max(maxPartial, conv2dPartialCount(ci: u.ci, co: u.co, k: 3))
            if training {
                return UnitBuffers(z: fp.reserve(count), a: fp.reserve(count), da: fp.reserve(count),
                                   mean: fp.reserve(u.co), rstd: fp.reserve(u.co), imageStride: u.co * hl * wl)
            }
            // Inference: conv, BN and ReLU all write one buffer in place.
            let a = out ?? fp.reserve(count)
            return UnitBuffers(z: a, a: a, da: -1, mean: fp.reserve(u.co), rstd: fp.reserve(u.co), imageStride: u.co * hl * wl)
        }
        input = fp.reserve(n * config.inChannels * h * w)
        for i in 0..<config.depth {
            let hl = h >> i, wl = w >> i, c = config.width(level: i)
            let first = unit(layout.enc[i].first, hl, wl, into: s1)
            if concatFree {
                // the skip: the first half of each image of the level's concatenation buffer
                let cat = fp.reserve(n * 2 * c * hl * wl)
                levelCat.append(cat)
                var second = unit(layout.enc[i].second, hl, wl, into: cat)
                second.imageStride = 2 * c * hl * wl
                enc.append([first, second])
            } else {
                enc.append([first, unit(layout.enc[i].second, hl, wl, into: nil)])  // the skip: kept
            }
            pooled.append(fp.reserve(n * c * hl * wl / 4))
            dpooled.append(training ? fp.reserve(n * c * hl * wl / 4) : -1)
            argmax.append(training ? ints : -1)  // inference pools without the argmax
            if training { ints += n * c * hl * wl / 4 }
        }
        let hd = h >> config.depth, wd = w >> config.depth
        bottleneck = [unit(layout.bottleneck.first, hd, wd, into: s1), unit(layout.bottleneck.second, hd, wd, into: s2)]
        let cd = config.width(level: config.depth)
        if config.dropout > 0 && training {
            dropped = fp.reserve(n * cd * hd * wd)
            ddropped = fp.reserve(n * cd * hd * wd)
            dropMask = fp.reserve(n * cd * hd * wd)
        }
        upOut = Array(repeating: -1, count: config.depth)
        dUpOut = upOut
        cat = upOut
        dcat = upOut
        dec = Array(repeating: [], count: config.depth)
        // Inference, deepest level first: u is in `current`; up-conv -> other; concat -> sharedCat;
        // unit 1 -> other; unit 2 -> current (u is dead once up-sampled).
        let current = s2, other = s1
        for i in (0..<config.depth).reversed() {
            let hl = h >> i, wl = w >> i, c = config.width(level: i)
            let hw = hl * wl
            maxCol = max(maxCol, c * 4 * hw / 4, upConvPackedScratchCount(ci: 2 * c))
            maxPacked = max(maxPacked, upConvPackedCount(ci: 2 * c, co: c))
            maxPartial = max(maxPartial, 2 * c * c * 4 + c)
            upOut[i] = training ? fp.reserve(n * c * hw) : concatFree ? levelCat[i] + c * hw : other
            dUpOut[i] = training ? fp.reserve(n * c * hw) : -1
            cat[i] = training ? fp.reserve(n * 2 * c * hw) : concatFree ? levelCat[i] : sharedCat
            dcat[i] = training ? fp.reserve(n * 2 * c * hw) : -1
            dec[i] = [unit(layout.dec[i].first, hl, wl, into: training ? nil : other),
                      unit(layout.dec[i].second, hl, wl, into: training ? nil : current)]
        }
        logits = fp.reserve(n * config.classes * h * w)
        dlogits = fp.reserve(n * config.classes * h * w)  // also for a validation loss in eval mode
        if training {
            dz = fp.reserve(maxUnit)
            flipped = fp.reserve(maxFlipped)
            partials = fp.reserve(workers > 1 ? workers * maxPartial : 1)
            dwScratch = fp.reserve(workers * maxDwScratch)
        }
        col = fp.reserve(workers * maxCol)
        packed = fp.reserve(maxPacked)
        floatCount = fp.total
        intCount = ints
    }
}
