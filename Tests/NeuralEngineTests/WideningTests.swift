import Testing
@testable import NeuralEngine

@Suite struct WideningTests {
    /// A narrow network trained a few steps (so batch norms have non-trivial running statistics
    /// and weights are not the initialisation's), its input batch and targets.
    func trainedNarrow(width: Int, depth: Int) -> (UNet, [Float], [Int32]) {
        let net = UNet(config: UNetConfig(inChannels: 1, classes: 3, baseWidth: width, depth: depth), seed: 5)
        let (input, target) = syntheticBatch(n: 2, size: 16, seed: 9)
        var adam = Adam()
        for _ in 0..<3 {
            net.trainStep(input: input, target: target, info: [ImageLabelInfo(), ImageLabelInfo()], batch: 2, height: 16, width: 16,
                          loss: CrossEntropyLoss(), optimizer: &adam)
        }
        return (net, input, target)
    }

    func logits(_ net: UNet, _ input: [Float], mode: EngineMode) -> [Float] {
        net.mode = mode
        input.withUnsafeBufferPointer { net.forward($0, batch: 2, height: 16, width: 16) }
        return net.withLogits { Array($0) }
    }

    @Test(arguments: [(2, 3, 2), (2, 5, 3), (3, 4, 1)])
    func withoutNoiseTheWiderNetworkComputesTheSameFunction(width: Int, wider: Int, depth: Int) throws {
        let (narrow, input, _) = trainedNarrow(width: width, depth: depth)
        let old = narrow.stateDict()  // before the train-mode forwards below move the running statistics
        let file = try UNetWidening.widen(old, config: narrow.config, to: wider, seed: 1, noise: 0)
        var config = narrow.config
        config.baseWidth = wider
        let wide = UNet(config: config, seed: 77)
        try wide.load(stateDict: file)
        #expect(wide.arena.parameterValues("enc.0.0.weight").count == wider * 9)
        for mode in [EngineMode.eval, .train] {
            let a = logits(narrow, input, mode: mode), b = logits(wide, input, mode: mode)
            let worst = zip(a, b).map { abs($0 - $1) }.max()!
            let scale = a.map { abs($0) }.max()!
            #expect(worst <= 1e-4 * max(scale, 1), "\(mode): largest logit difference \(worst) (logits up to \(scale))")
        }
        // Copies of an old channel carry its batch-norm statistics; the first channels are the old ones.
        let oldMean = old.tensors["dec.0.4.running_mean"]!.floats
        let newMean = file.tensors["dec.0.4.running_mean"]!.floats
        #expect(Array(newMean.prefix(width)) == oldMean)
        #expect(newMean.dropFirst(width).allSatisfy { oldMean.contains($0) })
    }

    @Test func noiseMakesTheCopiesDifferButKeepsTheFunctionClose() throws {
        let (narrow, input, _) = trainedNarrow(width: 2, depth: 2)
        let exact = try UNetWidening.widen(narrow.stateDict(), config: narrow.config, to: 4, seed: 1, noise: 0)
        let noisy = try UNetWidening.widen(narrow.stateDict(), config: narrow.config, to: 4, seed: 1, noise: 0.01)
        // The old channels' incoming weights are untouched; the added copies' are not.
        let w0 = exact.tensors["enc.1.3.weight"]!.floats, w1 = noisy.tensors["enc.1.3.weight"]!.floats
        let perRow = w0.count / 8
        #expect(Array(w0.prefix(4 * perRow)) == Array(w1.prefix(4 * perRow)))
        #expect(Array(w0.suffix(4 * perRow)) != Array(w1.suffix(4 * perRow)))
        var config = narrow.config
        config.baseWidth = 4
        let wide = UNet(config: config, seed: 3)
        try wide.load(stateDict: noisy)
        let a = logits(narrow, input, mode: .eval), b = logits(wide, input, mode: .eval)
        let scale = a.map { abs($0) }.max()!
        let worst = zip(a, b).map { abs($0 - $1) }.max()!
        #expect(worst > 0 && worst < 0.2 * scale, "largest logit difference \(worst) (logits up to \(scale))")
    }

    @Test func refusesANarrowerTargetOrAForeignCheckpoint() throws {
        let (narrow, _, _) = trainedNarrow(width: 2, depth: 2)
        #expect(throws: EngineError.self) {
            try UNetWidening.widen(narrow.stateDict(), config: narrow.config, to: 2, seed: 1)
        }
        var otherDepth = narrow.config
        otherDepth.depth = 3
        do {
            _ = try UNetWidening.widen(narrow.stateDict(), config: otherDepth, to: 4, seed: 1, source: "narrow.safetensors")
            Issue.record("a checkpoint of another depth was widened")
        } catch {
            #expect(error.code == .mismatch && error.input == "narrow.safetensors")
        }
        #expect(UNetWidening.baseWidth(of: narrow.stateDict()) == 2)
        #expect(UNetWidening.baseWidth(of: SafeTensorsFile()) == nil)
    }
}
