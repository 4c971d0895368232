import Foundation
import Testing
@testable import NeuralEngine

@Suite struct CheckpointTests {
    func tempPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("segvol-engine-\(getpid())-\(name)").path
    }

    @Test func saveLoadRoundTrip() throws {
        let config = UNetConfig(inChannels: 1, classes: 3, baseWidth: 2, depth: 2)
        let a = UNet(config: config, seed: 11)
        let (input, target) = syntheticBatch(n: 2, size: 8, seed: 3)
        var adam = Adam()
        a.trainStep(input: input, target: target, info: [ImageLabelInfo(), ImageLabelInfo()], batch: 2, height: 8, width: 8,
                    loss: CrossEntropyLoss(), optimizer: &adam)
        let path = tempPath("roundtrip.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try a.saveCheckpoint(to: path, metadata: ["model.version": "test"])

        let b = UNet(config: config, seed: 12)
        #expect(b.arena.parameterValues("enc.0.0.weight") != a.arena.parameterValues("enc.0.0.weight"))
        try b.loadCheckpoint(from: path)
        #expect(b.stateDict().tensors == a.stateDict().tensors)
        #expect(b.arena.counters == Array(repeating: 1, count: a.arena.counters.count))
        let file = try SafeTensorsFile(contentsOf: path)
        #expect(file.metadata["model.version"] == "test")
        #expect(file.tensors["enc.0.1.num_batches_tracked"] == SafeTensor(int64s: [1], shape: []))
        // Standard layout: 8-byte little-endian header length, header padded to 8 bytes.
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let headerLength = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        #expect(headerLength % 8 == 0 && bytes[8] == UInt8(ascii: "{"))
    }

    @Test func mismatchListsEveryDifference() throws {
        let net = UNet(config: UNetConfig(inChannels: 1, classes: 3, baseWidth: 2, depth: 2))
        var file = net.stateDict()
        file.tensors["head.bias"] = SafeTensor(floats: [0, 0, 0, 0], shape: [4])          // wrong shape
        file.tensors["enc.0.1.num_batches_tracked"] = SafeTensor(floats: [1], shape: [])  // wrong dtype
        file.names.removeAll { $0 == "up.1.weight" }                                      // missing
        file.tensors["up.1.weight"] = nil
        file.set("extra.weight", SafeTensor(floats: [1], shape: [1]))                    // unexpected
        let before = net.arena.parameterValues("enc.0.0.weight")
        file.tensors["enc.0.0.weight"] = SafeTensor(floats: before.map { $0 + 1 }, shape: [2, 1, 3, 3])
        do {
            try net.load(stateDict: file, source: "bad.safetensors")
            Issue.record("a mismatching checkpoint was accepted")
        } catch let error as EngineError {
            #expect(error.code == .mismatch)
            #expect(error.input == "bad.safetensors")
            #expect(error.reason.contains("4 difference(s)"))
            #expect(error.reason.contains("shape: head.bias is [4] in the file, model needs [3]"))
            #expect(error.reason.contains("dtype: enc.0.1.num_batches_tracked is F32 in the file, model needs I64"))
            #expect(error.reason.contains("missing: up.1.weight F32 [8, 4, 2, 2]"))
            #expect(error.reason.contains("unexpected: extra.weight [1]"))
        }
        #expect(net.arena.parameterValues("enc.0.0.weight") == before)  // nothing loaded
    }

    @Test func malformedFilesAreRefused() throws {
        let path = tempPath("bad.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        for bytes: [UInt8] in [[1, 2, 3], [255, 255, 0, 0, 0, 0, 0, 0, 0x7B], [4, 0, 0, 0, 0, 0, 0, 0] + Array("nope".utf8),
                               [48, 0, 0, 0, 0, 0, 0, 0] + Array(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#.utf8).prefix(48)] {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            #expect(throws: EngineError.self) { _ = try SafeTensorsFile(contentsOf: path) }
        }
        #expect { _ = try SafeTensorsFile(contentsOf: tempPath("absent")) } throws: { ($0 as? EngineError)?.code == .unreadable }
    }
}

extension CheckpointTests {
    /// Saving mid-training and resuming gives exactly the steps an uninterrupted run takes.
    @Test func trainingStateResumesExactly() throws {
        let config = UNetConfig(inChannels: 1, classes: 3, baseWidth: 2, depth: 2)
        let (input, target) = syntheticBatch(n: 2, size: 8, seed: 4)
        let info = [ImageLabelInfo(), ImageLabelInfo()]
        let adamConfig = AdamConfig(learningRate: 1e-2, weightDecay: 1e-3)
        func step(_ net: UNet, _ adam: inout Adam) {
            net.trainStep(input: input, target: target, info: info, batch: 2, height: 8, width: 8, loss: CrossEntropyLoss(), optimizer: &adam)
        }
        let straight = UNet(config: config, seed: 5)
        straight.threadCount = 1
        var adam = Adam(config: adamConfig)
        for _ in 0..<3 { step(straight, &adam) }
        let path = tempPath("state.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try straight.saveTrainingState(to: path, optimizer: adam)
        for _ in 0..<2 { step(straight, &adam) }

        let resumed = UNet(config: config, seed: 99)
        resumed.threadCount = 1
        var adam2 = try resumed.loadTrainingState(from: path, config: adamConfig)
        #expect(adam2.step == 3)
        for _ in 0..<2 { step(resumed, &adam2) }
        #expect(resumed.stateDict().tensors == straight.stateDict().tensors)

        // A plain checkpoint has no optimiser state: refused, naming what is missing.
        try straight.saveCheckpoint(to: path)
        #expect { _ = try resumed.loadTrainingState(from: path, config: adamConfig) } throws: { error in
            guard let e = error as? EngineError else { return false }
            return e.code == .mismatch && e.reason.contains("missing: optimizer.adam.m.enc.0.0.weight F32 [2, 1, 3, 3]")
        }
    }
}
