import Foundation
import Testing
@testable import NeuralEngine

/// Loads a reference fixture written by Scripts/make_engine_fixtures.py (PyTorch).
func fixture(_ name: String) throws -> SafeTensorsFile {
    let dir = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
    return try SafeTensorsFile(contentsOf: dir.appendingPathComponent(name).path)
}

extension SafeTensorsFile {
    func f(_ name: String) -> [Float] { tensors[name]!.floats }
    func buf(_ name: String) -> Buf { Buf(f(name)) }
}

/// Our values against PyTorch's within 1e-4 relative to the tensor's largest magnitude.
func expectMatches(_ ours: [Float], _ reference: [Float], _ what: String, tolerance: Float = 1e-4,
                   sourceLocation: SourceLocation = #_sourceLocation) {
    let err = relativeError(ours, reference, floor: 1e-6)
    #expect(err < tolerance, "\(what): relative error \(err)", sourceLocation: sourceLocation)
}

@Suite struct FixtureTests {
    @Test func convBatchNormReluBlockMatchesPyTorch() throws {
        let fx = try fixture("block.safetensors")
        let n = 2, ci = 3, co = 4, h = 6, w = 6, hw = 36
        let x = fx.buf("x"), wt = fx.buf("conv.weight"), b = fx.buf("conv.bias"), g = fx.buf("bn.weight"), be = fx.buf("bn.bias")
        let z = Buf(n * co * hw), y = Buf(n * co * hw), col = Buf(co * 9 * hw), flipped = Buf(ci * co * 9)
        let rm = Buf(co), rv = Buf(co, fill: 1), mean = Buf(co), rstd = Buf(co)
        conv2dForward(out: z.p, inp: x.c, weight: wt.c, bias: b.c, n: n, ci: ci, co: co, h: h, w: w, k: 3, col: col.p)
        batchNormTrainForward(out: y.p, inp: z.c, gamma: g.c, beta: be.c, runningMean: rm.p, runningVar: rv.p,
                              mean: mean.p, rstd: rstd.p, n: n, c: co, hw: hw)
        reluForward(out: y.p, inp: y.c, count: y.count)
        expectMatches(y.array, fx.f("y"), "y")
        expectMatches(rm.array, fx.f("bn.running_mean"), "running_mean")
        expectMatches(rv.array, fx.f("bn.running_var"), "running_var")

        let r = fx.buf("r"), dz = Buf(z.count), dx = Buf(x.count), dw = Buf(wt.count), db = Buf(co), dg = Buf(co), dbe = Buf(co)
        reluBackward(dinp: dz.p, dout: r.c, out: y.c, count: y.count)
        batchNormTrainBackward(dinp: dz.p, dgamma: dg.p, dbeta: dbe.p, dout: dz.c, inp: z.c, gamma: g.c, mean: mean.c, rstd: rstd.c, n: n, c: co, hw: hw)
        conv2dBackward(dinp: dx.p, dweight: dw.p, dbias: db.p, dout: dz.c, inp: x.c, weight: wt.c, n: n, ci: ci, co: co, h: h, w: w, k: 3, col: col.p, flipped: flipped.p, partials: flipped.p)
        expectMatches(dx.array, fx.f("grad.x"), "grad x")
        expectMatches(dw.array, fx.f("grad.conv.weight"), "grad conv.weight")
        expectMatches(dg.array, fx.f("grad.bn.weight"), "grad bn.weight")
        expectMatches(dbe.array, fx.f("grad.bn.bias"), "grad bn.bias")
        // A bias before a training-mode BN has a zero gradient (BN removes the mean): both ~0.
        #expect(db.array.allSatisfy { abs($0) < 1e-4 } && fx.f("grad.conv.bias").allSatisfy { abs($0) < 1e-4 })
    }

    @Test func poolUpsamplePairMatchesPyTorch() throws {
        let fx = try fixture("sampling.safetensors")
        let n = 2, ci = 3, co = 2, h = 6, w = 6
        let x = fx.buf("x"), wt = fx.buf("up.weight"), b = fx.buf("up.bias")
        let pooled = Buf(n * ci * 9), y = Buf(n * co * h * w), col = Buf(co * 4 * 9)
        var argmax = [Int32](repeating: 0, count: pooled.count)
        argmax.withUnsafeMutableBufferPointer { maxPoolForward(out: pooled.p, argmax: $0.baseAddress!, inp: x.c, n: n, c: ci, h: h, w: w) }
        upConvForward(out: y.p, inp: pooled.c, weight: wt.c, bias: b.c, n: n, ci: ci, co: co, h: 3, w: 3, col: col.p)
        expectMatches(pooled.array, fx.f("pooled"), "pooled")
        expectMatches(y.array, fx.f("y"), "y")
        let r = fx.buf("r"), dp = Buf(pooled.count), dw = Buf(wt.count), db = Buf(co), dx = Buf(x.count)
        upConvBackward(dinp: dp.p, dweight: dw.p, dbias: db.p, dout: r.c, inp: pooled.c, weight: wt.c, n: n, ci: ci, co: co, h: 3, w: 3, col: col.p, partials: col.p)
        argmax.withUnsafeBufferPointer { maxPoolBackward(dinp: dx.p, dout: dp.c, argmax: $0.baseAddress!, n: n, c: ci, h: h, w: w) }
        expectMatches(dx.array, fx.f("grad.x"), "grad x")
        expectMatches(dw.array, fx.f("grad.up.weight"), "grad up.weight")
        expectMatches(db.array, fx.f("grad.up.bias"), "grad up.bias")
    }

    /// Entries of `file` whose names start with `prefix`, with the prefix removed.
    func strip(_ file: SafeTensorsFile, _ prefix: String) -> SafeTensorsFile {
        var out = SafeTensorsFile()
        for name in file.names where name.hasPrefix(prefix) { out.set(String(name.dropFirst(prefix.count)), file.tensors[name]!) }
        return out
    }

    /// Each stage starts from PyTorch's own state, so differences do not compound: Adam's first
    /// steps are g / (|g| + eps), which turns rounding noise in a near-zero gradient into a
    /// visible change of the step, so the optimiser is fed PyTorch's gradients (ours are
    /// compared with them separately).
    @Test func tinyUNetStepMatchesPyTorch() throws {
        let fx = try fixture("unet_step.safetensors")
        let net = UNet(config: UNetConfig(inChannels: 1, classes: 3, baseWidth: 4, depth: 2), seed: 0)
        let initial = strip(fx, "init.")
        #expect(Set(initial.names) == Set(net.stateDictEntries.map(\.name)))  // name for name
        try net.load(stateDict: initial)
        let input = fx.f("x")
        let target = fx.tensors["target"]!.int64s.map { Int32($0) }
        let info = [ImageLabelInfo(), ImageLabelInfo()]
        var adam = Adam(config: AdamConfig(learningRate: 1e-2, weightDecay: 1e-2))

        // Step 1: logits, loss, gradients; then AdamW on PyTorch's gradients.
        net.mode = .train
        input.withUnsafeBufferPointer { net.forward($0, batch: 2, height: 16, width: 16) }
        expectMatches(net.withLogits { Array($0) }, fx.f("logits"), "logits")
        let loss = target.withUnsafeBufferPointer { net.loss(target: $0, info: info, using: CrossEntropyLoss()) }
        #expect(abs(Float(loss) - fx.f("loss")[0]) < 1e-4 * fx.f("loss")[0])
        net.arena.zeroGradients()
        net.backward()
        compareGradients(net, strip(fx, "grad."), "step 1")
        setGradients(net, strip(fx, "grad."))
        adam.update(net.arena)
        let step1 = strip(fx, "step1.")
        for slot in net.arena.parameterSlots {
            expectMatches(net.arena.parameterValues(slot.name), step1.f(slot.name), "step 1 \(slot.name)")
        }

        // Step 2 from PyTorch's state after step 1: running statistics, gradients, AdamW.
        try net.load(stateDict: step1)
        input.withUnsafeBufferPointer { net.forward($0, batch: 2, height: 16, width: 16) }
        _ = target.withUnsafeBufferPointer { net.loss(target: $0, info: info, using: CrossEntropyLoss()) }
        net.arena.zeroGradients()
        net.backward()
        let after = strip(fx, "after.")
        let ours = net.stateDict()
        for slot in net.arena.bufferSlots { expectMatches(ours.f(slot.name), after.f(slot.name), "step 2 \(slot.name)") }
        #expect(net.arena.counters.allSatisfy { $0 == 2 })
        compareGradients(net, strip(fx, "grad2."), "step 2")
        setGradients(net, strip(fx, "grad2."))
        adam.update(net.arena)
        for slot in net.arena.parameterSlots {
            expectMatches(net.arena.parameterValues(slot.name), after.f(slot.name), "step 2 \(slot.name)")
        }

        // Evaluation mode on PyTorch's final state.
        try net.load(stateDict: after)
        net.mode = .eval
        input.withUnsafeBufferPointer { net.forward($0, batch: 2, height: 16, width: 16) }
        expectMatches(net.withLogits { Array($0) }, fx.f("eval_logits"), "eval logits")
    }

    /// Our gradients against PyTorch's. Conv biases right before a training-mode batch norm have
    /// a zero gradient (BN removes the mean) up to rounding: both must be ~0.
    func compareGradients(_ net: UNet, _ reference: SafeTensorsFile, _ when: String) {
        for slot in net.arena.parameterSlots {
            let ours = net.arena.gradientValues(slot.name), ref = reference.f(slot.name)
            if isBiasBeforeBatchNorm(slot.name) {
                #expect(ours.allSatisfy { abs($0) < 1e-5 } && ref.allSatisfy { abs($0) < 1e-5 }, "\(when) \(slot.name) gradient should be ~0")
            } else {
                expectMatches(ours, ref, "\(when) grad \(slot.name)")
            }
        }
    }

    func setGradients(_ net: UNet, _ reference: SafeTensorsFile) {
        for slot in net.arena.parameterSlots {
            let values = reference.f(slot.name)
            for i in 0..<slot.count { net.arena.grads[slot.offset + i] = values[i] }
        }
    }

    func isBiasBeforeBatchNorm(_ name: String) -> Bool {
        !name.hasPrefix("up.") && !name.hasPrefix("head.") && (name.hasSuffix(".0.bias") || name.hasSuffix(".3.bias"))
    }
}
