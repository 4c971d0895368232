/// Training mode (batch statistics, dropout on) or evaluation mode (running statistics).
public enum EngineMode: Sendable, Equatable {
    case train, eval
}

/// The 2D batch-norm U-Net on the engine: parameters in one `Arena`, activations in one
/// workspace planned per batch shape and reused (no allocation in the steady-state loop).
///
/// One training step: `forward` → `loss` → `zeroGradients`/`backward` → optional clipping →
/// `Adam.update`; `trainStep` does all of it.
public final class UNet {
    public let config: UNetConfig
    /// Parameters, gradients, Adam moments and batch-norm statistics.
    public let arena: Arena
    /// Train or eval; read by the next `forward`.
    public var mode: EngineMode = .train
    /// Worker threads of the next `forward` and `backward` (default `EngineThreads.threadCount`).
    public var threadCount: Int = EngineThreads.threadCount {
        didSet { precondition(threadCount >= 1, "threadCount must be at least 1") }
    }

    let layout: UNetLayout
    private var plan: UNetPlan?
    private var workspace = Workspace(capacity: 1)
    private var argmaxBuffer: UnsafeMutablePointer<Int32> = .allocate(capacity: 1)
    var dropoutRNG: SeededGenerator  // internal: tests pin the mask
    private var forwardMode: EngineMode = .train
    /// Images in the last forward (at most the plan's capacity `plan.n`).
    private var batch = 0

    /// Builds the U-Net with Xavier-uniform weights from `seed` (biases 0, BN weight 1).
    public init(config: UNetConfig, seed: UInt64 = 0) {
        self.config = config
        layout = UNetLayout(config)
        arena = Arena(parameters: layout.parameters, buffers: layout.buffers, counters: layout.counters)
        dropoutRNG = SeededGenerator(seed: seed ^ 0xD80_0D80)
        EngineThreads.pinBLAS()
        initializeWeights(seed: seed)
    }

    deinit { argmaxBuffer.deallocate() }

    /// Xavier-uniform (Glorot) weights, bound sqrt(6 / (fan_in + fan_out)) with fan = channels x
    /// kernel area as PyTorch computes it; zero biases; BN weight 1, bias 0, running mean 0, var 1.
    public func initializeWeights(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        let p = arena.params
        for slot in arena.parameterSlots {
            if slot.shape.count == 4 {
                let receptive = slot.shape[2] * slot.shape[3]
                let fanIn = slot.shape[1] * receptive, fanOut = slot.shape[0] * receptive
                let bound = (6 / Float(fanIn + fanOut)).squareRoot()
                for i in 0..<slot.count { p[slot.offset + i] = rng.nextFloat(bound: bound) }
            } else {
                let isBNWeight = !slot.name.hasPrefix("up.") && !slot.name.hasPrefix("head.")
                    && slot.name.hasSuffix(".weight")
                (p + slot.offset).update(repeating: isBNWeight ? 1 : 0, count: slot.count)
            }
        }
        for slot in arena.bufferSlots {
            (arena.buffers + slot.offset).update(repeating: slot.name.hasSuffix("running_var") ? 1 : 0, count: slot.count)
        }
        for i in arena.counters.indices { arena.counters[i] = 0 }
        arena.zeroGradients()
        arena.resetOptimizerState()
    }

    /// Plans (once per batch shape and mode) the workspace for N images of H x W.
    private func prepare(n: Int, h: Int, w: Int, training: Bool) -> UNetPlan {
        // A plan for a larger batch serves a smaller one (e.g. the last batch of a volume).
        if let plan, plan.n >= n, plan.h == h, plan.w == w, plan.training == training, plan.workers == threadCount { return plan }
        plan = nil
        workspace = Workspace(capacity: 1)  // free the old one before allocating the new
        let p = UNetPlan(config: config, layout: layout, n: n, h: h, w: w, training: training, workers: threadCount)
        workspace = Workspace(capacity: p.floatCount)
        argmaxBuffer.deallocate()
        argmaxBuffer = .allocate(capacity: max(p.intCount, 1))
        plan = p
        return p
    }

    /// The plan of the last forward pass (a bug to ask before one).
    private var current: UNetPlan {
        guard let plan else { preconditionFailure("UNet.backward/loss called before forward") }
        return plan
    }

    private func ws(_ offset: Int) -> UnsafeMutablePointer<Float> { workspace.pointer(offset) }

    // MARK: Forward

    /// Runs the network on `input` (N, Cin, H, W) and caches what the backward needs.
    public func forward(_ input: UnsafeBufferPointer<Float>, batch n: Int, height h: Int, width w: Int) {
        precondition(input.count == n * config.inChannels * h * w, "input has \(input.count) values, expected \(n)x\(config.inChannels)x\(h)x\(w)")
        let plan = prepare(n: n, h: h, w: w, training: mode == .train)
        forwardMode = mode
        batch = n
        ws(plan.input).update(from: input.baseAddress!, count: input.count)
        var x = UnsafePointer(ws(plan.input))
        for i in 0..<config.depth {
            let hi = h >> i, wi = w >> i, c = config.width(level: i)
            doubleForward(layout.enc[i], plan.enc[i], input: x, n: n, h: hi, w: wi)
            if mode == .eval {  // no argmax: no backward follows
                maxPoolEvalForward(out: ws(plan.pooled[i]), inp: ws(plan.enc[i][1].a), n: n, c: c, h: hi, w: wi,
                                   workers: plan.workers, inImageStride: plan.enc[i][1].imageStride)
            } else {
                maxPoolForward(out: ws(plan.pooled[i]), argmax: argmaxBuffer + plan.argmax[i],
                               inp: ws(plan.enc[i][1].a), n: n, c: c, h: hi, w: wi, workers: plan.workers)
            }
            x = UnsafePointer(ws(plan.pooled[i]))
        }
        let hd = h >> config.depth, wd = w >> config.depth
        doubleForward(layout.bottleneck, plan.bottleneck, input: x, n: n, h: hd, w: wd)
        var u = UnsafePointer(ws(plan.bottleneck[1].a))
        if config.dropout > 0 && mode == .train {
            dropoutForward(out: ws(plan.dropped), inp: u, mask: ws(plan.dropMask),
                           count: n * config.width(level: config.depth) * hd * wd, p: config.dropout, rng: &dropoutRNG)
            u = UnsafePointer(ws(plan.dropped))
        }
        let p = arena.params
        for i in (0..<config.depth).reversed() {
            let hi = h >> i, wi = w >> i, c = config.width(level: i)
            let l = layout.up[i]
            // A concat-free plan has the up-conv write the second half of each image of cat[i],
            // whose first half the encoder wrote.
            upConvForward(out: ws(plan.upOut[i]), inp: u, weight: p + l.weight, bias: p + l.bias,
                          n: n, ci: l.ci, co: l.co, h: hi / 2, w: wi / 2, col: ws(plan.col), workers: plan.workers,
                          outImageStride: plan.concatFree ? 2 * c * hi * wi : nil,
                          packed: conv3x3DirectAvailable && conv3x3PackedEnabled ? ws(plan.packed) : nil)
            if !plan.concatFree {
                concatForward(out: ws(plan.cat[i]), a: ws(plan.enc[i][1].a), b: ws(plan.upOut[i]), n: n, ca: c, cb: c,
                              hw: hi * wi, workers: plan.workers)
            }
            doubleForward(layout.dec[i], plan.dec[i], input: ws(plan.cat[i]), n: n, h: hi, w: wi)
            u = UnsafePointer(ws(plan.dec[i][1].a))
        }
        conv2dForward(out: ws(plan.logits), inp: u, weight: p + layout.head.weight, bias: p + layout.head.bias,
                      n: n, ci: layout.head.ci, co: layout.head.co, h: h, w: w, k: 1, col: ws(plan.col), workers: plan.workers)
    }

    private func doubleForward(_ d: DoubleConv, _ b: [UnitBuffers], input: UnsafePointer<Float>, n: Int, h: Int, w: Int) {
        unitForward(d.first, b[0], input: input, n: n, h: h, w: w)
        unitForward(d.second, b[1], input: ws(b[0].a), n: n, h: h, w: w)
    }

    private func unitForward(_ u: ConvUnit, _ b: UnitBuffers, input: UnsafePointer<Float>, n: Int, h: Int, w: Int) {
        let p = arena.params, s = arena.buffers
        let z = ws(b.z), a = ws(b.a)
        let plan = current
        // The conv bias is not added to z (one pass fewer): training-mode BN subtracts the batch
        // mean anyway, so z's mean and the backward are unaffected; the running mean and the
        // eval-mode shift add it back.
        if forwardMode == .eval && conv3x3DirectEnabled {
            // Inference: the direct kernel with BN + ReLU in its epilogue (z is not written);
            // training keeps im2col + GEMM for now.
            conv3x3BatchNormReluEvalDirect(out: a, inp: input, weight: p + u.weight, gamma: p + u.gamma, beta: p + u.beta,
                                           runningMean: s + u.runningMean, runningVar: s + u.runningVar, bias: p + u.bias,
                                           n: n, ci: u.ci, co: u.co, h: h, w: w, workers: plan.workers,
                                           outImageStride: b.imageStride, packed: conv3x3PackedEnabled ? ws(plan.packed) : nil)
            return
        } else if forwardMode == .train && conv3x3DirectTraining {
            // Training: the direct kernel writes z; BN needs its batch statistics first.
            conv3x3ForwardDirect(out: z, inp: input, weight: p + u.weight, bias: nil, n: n, ci: u.ci, co: u.co, h: h, w: w,
                                 workers: plan.workers, packed: conv3x3PackedEnabled ? ws(plan.packed) : nil)
        } else {
            conv2dForward(out: z, inp: input, weight: p + u.weight, bias: nil, n: n, ci: u.ci, co: u.co, h: h, w: w, k: 3,
                          col: ws(plan.col), workers: plan.workers)
        }
        if forwardMode == .train {
            batchNormReluTrainForward(out: a, inp: z, gamma: p + u.gamma, beta: p + u.beta,
                                      runningMean: s + u.runningMean, runningVar: s + u.runningVar,
                                      mean: ws(b.mean), rstd: ws(b.rstd), n: n, c: u.co, hw: h * w,
                                      inputBias: p + u.bias, workers: plan.workers)
            arena.counters[u.counter] += 1
        } else {
            batchNormReluEvalForward(out: a, inp: z, gamma: p + u.gamma, beta: p + u.beta,
                                     runningMean: s + u.runningMean, runningVar: s + u.runningVar, n: n, c: u.co, hw: h * w,
                                     inputBias: p + u.bias, workers: plan.workers)
        }
    }

    // MARK: Loss and backward

    /// The loss of the last forward's logits; writes dL/dlogits for `backward`.
    /// target: (N, H, W) class indices; info: N entries.
    public func loss(target: UnsafeBufferPointer<Int32>, info: [ImageLabelInfo], using lossFunction: some SegmentationLoss) -> Double {
        let plan = current
        precondition(target.count == batch * plan.h * plan.w && info.count == batch, "target or info does not match the batch")
        return lossFunction.loss(logits: ws(plan.logits), target: target.baseAddress!, info: info,
                                 shape: TensorShape(n: batch, c: config.classes, h: plan.h, w: plan.w), dlogits: ws(plan.dlogits))
    }

    /// Back-propagates the dL/dlogits written by `loss` through the last forward, which must
    /// have run in training mode (an eval-mode forward keeps no activations for a backward).
    /// Parameter gradients ACCUMULATE in the arena (call `arena.zeroGradients()` first).
    public func backward() {
        let plan = current
        precondition(plan.training, "UNet.backward needs a training-mode forward")
        let n = batch, h = plan.h, w = plan.w
        let p = arena.params, g = arena.grads
        let u0 = ws(plan.dec[0][1].a)
        conv2dBackward(dinp: ws(plan.dec[0][1].da), dweight: g + layout.head.weight, dbias: g + layout.head.bias,
                       dout: ws(plan.dlogits), inp: u0, weight: p + layout.head.weight,
                       n: n, ci: layout.head.ci, co: layout.head.co, h: h, w: w, k: 1, col: ws(plan.col), flipped: ws(plan.flipped),
                       partials: ws(plan.partials), workers: plan.workers)
        for i in 0..<config.depth {
            let hi = h >> i, wi = w >> i, c = config.width(level: i)
            doubleBackward(layout.dec[i], plan.dec[i], input: ws(plan.cat[i]), dinput: ws(plan.dcat[i]), n: n, h: hi, w: wi)
            concatBackward(da: ws(plan.enc[i][1].da), db: ws(plan.dUpOut[i]), dout: ws(plan.dcat[i]), n: n, ca: c, cb: c, hw: hi * wi,
                           workers: plan.workers)
            let (uIn, duIn) = upInput(level: i, plan)
            let l = layout.up[i]
            upConvBackward(dinp: duIn, dweight: g + l.weight, dbias: g + l.bias, dout: ws(plan.dUpOut[i]), inp: uIn,
                           weight: p + l.weight, n: n, ci: l.ci, co: l.co, h: hi / 2, w: wi / 2, col: ws(plan.col),
                           partials: ws(plan.partials), workers: plan.workers)
        }
        let hd = h >> config.depth, wd = w >> config.depth
        if config.dropout > 0 {
            dropoutBackward(dinp: ws(plan.bottleneck[1].da), dout: ws(plan.ddropped), mask: ws(plan.dropMask),
                            count: n * config.width(level: config.depth) * hd * wd)
        }
        doubleBackward(layout.bottleneck, plan.bottleneck, input: ws(plan.pooled[config.depth - 1]),
                       dinput: ws(plan.dpooled[config.depth - 1]), n: n, h: hd, w: wd)
        for i in (0..<config.depth).reversed() {
            let hi = h >> i, wi = w >> i
            // the encoder output's gradient: skip part (written by concatBackward) + pool part (added)
            maxPoolBackward(dinp: ws(plan.enc[i][1].da), dout: ws(plan.dpooled[i]), argmax: argmaxBuffer + plan.argmax[i],
                            n: n, c: config.width(level: i), h: hi, w: wi, workers: plan.workers)
            let input = i == 0 ? ws(plan.input) : ws(plan.pooled[i - 1])
            let dinput = i == 0 ? nil : ws(plan.dpooled[i - 1])
            doubleBackward(layout.enc[i], plan.enc[i], input: input, dinput: dinput, n: n, h: hi, w: wi)
        }
    }

    /// The input of up-conv i and where its gradient goes: the bottleneck (after dropout) for the
    /// deepest level, else the decoder output one level down.
    private func upInput(level i: Int, _ plan: UNetPlan) -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
        if i == config.depth - 1 {
            if config.dropout > 0 { return (ws(plan.dropped), ws(plan.ddropped)) }
            return (ws(plan.bottleneck[1].a), ws(plan.bottleneck[1].da))
        }
        return (ws(plan.dec[i + 1][1].a), ws(plan.dec[i + 1][1].da))
    }

    private func doubleBackward(_ d: DoubleConv, _ b: [UnitBuffers], input: UnsafePointer<Float>, dinput: UnsafeMutablePointer<Float>?, n: Int, h: Int, w: Int) {
        unitBackward(d.second, b[1], input: ws(b[0].a), dinput: ws(b[0].da), n: n, h: h, w: w)
        unitBackward(d.first, b[0], input: input, dinput: dinput, n: n, h: h, w: w)
    }

    private func unitBackward(_ u: ConvUnit, _ b: UnitBuffers, input: UnsafePointer<Float>, dinput: UnsafeMutablePointer<Float>?, n: Int, h: Int, w: Int) {
        let p = arena.params, g = arena.grads
        let plan = current
        let dz = ws(plan.dz)
        batchNormReluTrainBackward(dinp: dz, dgamma: g + u.gamma, dbeta: g + u.beta, dout: ws(b.da), out: ws(b.a), inp: ws(b.z),
                                   gamma: p + u.gamma, mean: ws(b.mean), rstd: ws(b.rstd), n: n, c: u.co, hw: h * w,
                                   dinpSum: conv3x3DirectTraining ? g + u.bias : nil, workers: plan.workers)
        if conv3x3DirectTraining {
            // The conv bias gradient (the sum of dz) came with the batch norm's backward.
            conv3x3BackwardDirect(dinp: dinput, dweight: g + u.weight, dbias: nil, dout: dz, inp: input,
                                  weight: p + u.weight, n: n, ci: u.ci, co: u.co, h: h, w: w, flipped: ws(plan.flipped),
                                  partials: ws(plan.partials), workers: plan.workers, packed: conv3x3PackedEnabled ? ws(plan.packed) : nil,
                                  weightGradScratch: conv3x3PackedEnabled ? ws(plan.dwScratch) : nil)
            return
        }
        conv2dBackward(dinp: dinput, dweight: g + u.weight, dbias: g + u.bias, dout: dz, inp: input, weight: p + u.weight,
                       n: n, ci: u.ci, co: u.co, h: h, w: w, k: 3, col: ws(plan.col), flipped: ws(plan.flipped),
                       partials: ws(plan.partials), workers: plan.workers)
    }

    // MARK: Convenience

    /// One training step on a batch: forward (train mode), loss, backward, optional clipping by
    /// global norm, Adam update. Returns the loss before the update.
    /// input: (N, Cin, H, W); target: (N, H, W); info: N entries.
    @discardableResult
    public func trainStep(
        input: [Float], target: [Int32], info: [ImageLabelInfo], batch n: Int, height h: Int, width w: Int,
        loss lossFunction: some SegmentationLoss, optimizer: inout Adam, clipNorm: Float? = nil
    ) -> Double {
        mode = .train
        input.withUnsafeBufferPointer { forward($0, batch: n, height: h, width: w) }
        let value = target.withUnsafeBufferPointer { loss(target: $0, info: info, using: lossFunction) }
        arena.zeroGradients()
        backward()
        if let clipNorm { clipGradientNorm(arena, maxNorm: clipNorm) }
        optimizer.update(arena)
        return value
    }

    /// Reads the logits (N, classes, H, W) of the last forward.
    public func withLogits<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        let plan = current
        return try body(UnsafeBufferPointer(start: ws(plan.logits), count: batch * config.classes * plan.h * plan.w))
    }

    /// Writes the class probabilities (softmax over channels of the last forward's logits) into
    /// `out` (N, classes, H, W), which must have the right size.
    public func probabilities(into out: inout [Float]) {
        let plan = current
        precondition(out.count == batch * config.classes * plan.h * plan.w)
        out.withUnsafeMutableBufferPointer {
            softmaxForward(out: $0.baseAddress!, inp: ws(plan.logits), n: batch, c: config.classes, hw: plan.h * plan.w)
        }
    }
}
