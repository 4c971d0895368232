import Testing
@testable import NeuralEngine

/// A loss linear in the logits, L = sum(logits * r): its gradient is r whatever the logits, so the
/// whole-network check exercises every layer with O(1) gradients.
struct LinearTestLoss: SegmentationLoss {
    let r: Buf
    func loss(logits: UnsafePointer<Float>, target: UnsafePointer<Int32>, info: [ImageLabelInfo],
              shape: TensorShape, dlogits: UnsafeMutablePointer<Float>) -> Double {
        dlogits.update(from: r.p, count: shape.count)
        return dot(logits, r.c, shape.count)
    }
}

/// A fixed synthetic batch: a disk (class 1) and a square (class 2) on background (class 0);
/// the intensity tells the classes apart up to noise.
func syntheticBatch(n: Int, size: Int, seed: UInt64) -> (input: [Float], target: [Int32]) {
    var rng = SeededGenerator(seed: seed)
    var input = [Float](repeating: 0, count: n * size * size)
    var target = [Int32](repeating: 0, count: n * size * size)
    for b in 0..<n {
        let cx = Float(size) * (0.3 + 0.1 * Float(b)), cy = Float(size) * 0.4, radius = Float(size) * 0.2
        for y in 0..<size {
            for x in 0..<size {
                var label: Int32 = 0
                if (Float(x) - cx) * (Float(x) - cx) + (Float(y) - cy) * (Float(y) - cy) < radius * radius { label = 1 }
                if x >= size * 5 / 8 && y >= size * 5 / 8 && x < size * 7 / 8 { label = 2 }
                let i = (b * size + y) * size + x
                target[i] = label
                input[i] = Float(label) * 0.8 - 0.5 + 0.2 * rng.nextFloat(bound: 1)
            }
        }
    }
    return (input, target)
}

@Suite struct UNetTests {
    let tiny = UNetConfig(inChannels: 1, classes: 3, baseWidth: 2, depth: 2)

    @Test func stateDictNamesAndShapes() {
        let net = UNet(config: UNetConfig(inChannels: 1, classes: 20, baseWidth: 32, depth: 4))
        let names = net.arena.parameterSlots.map(\.name)
        #expect(names.first == "enc.0.0.weight")
        #expect(net.arena.parameterSlot("enc.0.0.weight").shape == [32, 1, 3, 3])
        #expect(net.arena.parameterSlot("enc.3.4.bias").shape == [256])
        #expect(net.arena.parameterSlot("bottleneck.3.weight").shape == [512, 512, 3, 3])
        #expect(net.arena.parameterSlot("up.3.weight").shape == [512, 256, 2, 2])  // IOHW
        #expect(net.arena.parameterSlot("dec.0.0.weight").shape == [32, 64, 3, 3])
        #expect(net.arena.parameterSlot("head.weight").shape == [20, 32, 1, 1])
        #expect(net.arena.bufferSlots.map(\.name).contains("dec.2.4.running_var"))
        #expect(net.arena.counterNames.count == 2 * (2 * 4 + 1))
        // PyTorch counts 7,766,036 parameters and 136 state_dict entries for Scripts/unet_reference.py UNet().
        #expect(net.arena.parameterCount == 7_766_036)
        #expect(net.arena.parameterSlots.count + net.arena.bufferSlots.count + net.arena.counterNames.count == 136)
    }

    @Test func xavierInitIsSeededAndBounded() {
        let a = UNet(config: tiny, seed: 7), b = UNet(config: tiny, seed: 7), c = UNet(config: tiny, seed: 8)
        #expect(a.arena.parameterValues("enc.1.3.weight") == b.arena.parameterValues("enc.1.3.weight"))
        #expect(a.arena.parameterValues("enc.1.3.weight") != c.arena.parameterValues("enc.1.3.weight"))
        let w = a.arena.parameterValues("enc.1.3.weight")  // (4, 4, 3, 3): bound sqrt(6 / 72)
        let bound = (6.0 / 72.0).squareRoot()
        #expect(w.allSatisfy { abs(Double($0)) <= bound })
        #expect(w.map { abs(Double($0)) }.max()! > 0.8 * bound)
        #expect(a.arena.parameterValues("enc.1.4.weight") == [1, 1, 1, 1])
        #expect(a.arena.parameterValues("up.0.bias") == [0, 0])
    }

    /// With dropout the generator is re-seeded before every forward, so all evaluations share
    /// one mask and the function is differentiable as usual.
    @Test(arguments: [Float(0), 0.3])
    func wholeNetworkGradientMatchesFiniteDifferences(dropout: Float) {
        // Float kernels, Double loss accumulation, eps 1e-3: rounding noise ~|L| 1e-7 / 2e-3 ~ 1e-4
        // against O(1) gradients. A perturbation can push a few ReLU inputs or max-pool
        // candidates across a kink, where the difference quotient is meaningless; those
        // coordinates are rare, so at least 95 % of coordinates must agree within 2 %, and the
        // sampled gradient vector as a whole within 3 %. (The per-layer tests check the kinks.)
        var config = tiny
        config.dropout = dropout
        let net = UNet(config: config, seed: 3)
        let n = 2, h = 8, w = 8
        var rng = SeededGenerator(seed: 99)
        let input = (0..<(n * h * w)).map { _ in rng.nextFloat(bound: 1) }
        let target = [Int32](repeating: 0, count: n * h * w)
        let info = [ImageLabelInfo](repeating: ImageLabelInfo(), count: n)
        let lossFn = LinearTestLoss(r: Buf(random: n * 3 * h * w, seed: 100))
        func loss() -> Double {
            net.dropoutRNG = SeededGenerator(seed: 77)
            input.withUnsafeBufferPointer { net.forward($0, batch: n, height: h, width: w) }
            return target.withUnsafeBufferPointer { net.loss(target: $0, info: info, using: lossFn) }
        }
        _ = loss()
        net.arena.zeroGradients()
        net.backward()
        var indices: [Int] = []
        for slot in net.arena.parameterSlots {
            indices += sampleIndices(slot.count, max: 3).map { slot.offset + $0 }
        }
        let analytic = indices.map { Double(net.arena.grads[$0]) }
        let numeric = numericalGradient(net.arena.params, indices: indices, eps: 1e-3, loss: loss)
        let scale = analytic.map(abs).max()!
        var agreeing = 0
        for i in indices.indices where abs(numeric[i] - analytic[i]) <= 0.02 * max(abs(analytic[i]), 0.05 * scale) { agreeing += 1 }
        #expect(Double(agreeing) >= 0.95 * Double(indices.count), "\(agreeing) of \(indices.count) coordinates agree")
        var diff = 0.0, norm = 0.0
        for i in indices.indices {
            diff += (numeric[i] - analytic[i]) * (numeric[i] - analytic[i])
            norm += analytic[i] * analytic[i]
        }
        #expect((diff / norm).squareRoot() < 0.03)
    }

    @Test func overfitsAFixedBatch() {
        let net = UNet(config: UNetConfig(inChannels: 1, classes: 3, baseWidth: 4, depth: 2), seed: 1)
        let n = 2, size = 16
        let (input, target) = syntheticBatch(n: n, size: size, seed: 5)
        var adam = Adam(config: AdamConfig(learningRate: 1e-2))
        let info = [ImageLabelInfo](repeating: ImageLabelInfo(), count: n)
        var first = 0.0, last = 0.0
        for step in 0..<120 {
            last = net.trainStep(input: input, target: target, info: info, batch: n, height: size, width: size,
                                 loss: CrossEntropyLoss(), optimizer: &adam, clipNorm: 5)
            if step == 0 { first = last }
        }
        #expect(first > 0.8)
        #expect(last < 0.05, "loss went from \(first) to \(last)")
        // The trained net, in eval mode with its running statistics, labels most pixels right.
        net.mode = .eval
        input.withUnsafeBufferPointer { net.forward($0, batch: n, height: size, width: size) }
        let correct = net.withLogits { logits -> Int in
            var c = 0
            for b in 0..<n {
                for p in 0..<(size * size) {
                    let scores = (0..<3).map { logits[(b * 3 + $0) * size * size + p] }
                    if Int32(scores.firstIndex(of: scores.max()!)!) == target[b * size * size + p] { c += 1 }
                }
            }
            return c
        }
        #expect(Double(correct) > 0.9 * Double(n * size * size))
    }

    @Test func evalModeUsesRunningStatisticsAndIsRepeatable() {
        let net = UNet(config: UNetConfig(inChannels: 1, classes: 2, baseWidth: 2, depth: 1, dropout: 0.5), seed: 2)
        let (input, _) = syntheticBatch(n: 2, size: 8, seed: 1)
        func run() -> [Float] {
            input.withUnsafeBufferPointer { net.forward($0, batch: 2, height: 8, width: 8) }
            return net.withLogits { Array($0) }
        }
        let train1 = run(), train2 = run()
        #expect(train1 != train2)  // dropout draws a new mask each training forward
        #expect(net.arena.counters.allSatisfy { $0 == 2 })
        net.mode = .eval
        let eval1 = run(), eval2 = run()
        #expect(eval1 == eval2)
        #expect(net.arena.counters.allSatisfy { $0 == 2 })  // eval does not count batches
        var probs = [Float](repeating: 0, count: eval1.count)
        net.probabilities(into: &probs)
        #expect(abs(probs[0] + probs[64] - 1) < 1e-6)
    }
}

@Suite struct BenchmarkTests {
    @Test func forwardFLOPsMatchTheIssueTable() {
        // Issue 3's table: 6.07 and 24.1 GFLOP per 256 x 256 slice at widths 16 and 32 (20 classes).
        let w16 = UNetConfig(baseWidth: 16).forwardFLOPs(height: 256, width: 256) / 1e9
        let w32 = UNetConfig(baseWidth: 32).forwardFLOPs(height: 256, width: 256) / 1e9
        #expect(abs(w16 - 6.07) < 0.01, "\(w16)")
        #expect(abs(w32 - 24.1) < 0.1, "\(w32)")
    }

    @Test func benchmarkRunsOnATinyModel() {
        // threads: the current count, so no test changes OpenBLAS's pool while others use it.
        let r = benchmarkEngine(baseWidth: 2, size: 16, batch: 2, classes: 3, depth: 2, repeats: 1, threads: EngineThreads.threadCount)
        #expect(r.inferenceMsPerSlice > 0 && r.trainStepMsPerSlice > 0)
        #expect(r.inferencePeakRSSBytes > 1_000_000 && r.trainPeakRSSBytes > 1_000_000)
        #expect(r.description.contains("width 2 @16 batch 2"))
    }
}

@Suite struct ThreadTests {
    @Test func threadCountSetting() {
        // Tests run in parallel, so this one changes no process-wide setting.
        #expect(EngineThreads.resolvedCount(requested: 3, cores: 16) == 3)
        #expect(EngineThreads.resolvedCount(requested: nil, cores: 16) == 16)
        #expect(EngineThreads.resolvedCount(requested: 0, cores: 2) == 2)
        #expect(EngineThreads.threadCount >= 1)
        #expect(!EngineThreads.blasCoreName.isEmpty && EngineThreads.blasCoreName != "unknown")
        // One scheme: once a model exists, OpenBLAS runs single-threaded inside the engine's workers.
        let net = UNet(config: UNetConfig(inChannels: 1, classes: 2, baseWidth: 2, depth: 1))
        #expect(net.threadCount == EngineThreads.threadCount)
        #expect(EngineThreads.blasThreadCount == 1)
    }
}

extension UNetTests {
    /// A smaller batch after a larger one reuses the plan and gives the same per-image results.
    @Test func smallerBatchReusesThePlan() {
        let net = UNet(config: tiny, seed: 6)
        net.mode = .eval
        let (input, _) = syntheticBatch(n: 3, size: 8, seed: 2)
        input.withUnsafeBufferPointer { net.forward($0, batch: 3, height: 8, width: 8) }
        let all = net.withLogits { Array($0) }
        let last = Array(input[128...])  // image 2 alone
        last.withUnsafeBufferPointer { net.forward($0, batch: 1, height: 8, width: 8) }
        let one = net.withLogits { Array($0) }
        #expect(one.count == 3 * 64)
        // Eval mode: images are independent (up to GEMM blocking: one image alone is split into
        // row chunks across workers, which changes the rounding).
        #expect(relativeError(one, Array(all[(2 * 3 * 64)...])) < 1e-5)
    }
}
