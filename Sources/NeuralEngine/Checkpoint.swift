/// What a checkpoint entry must be: name, dtype and shape, as PyTorch's `state_dict` has them.
public struct StateDictEntry: Sendable, Equatable {
    public var name: String
    public var dtype: SafeTensorsDType
    public var shape: [Int]
}

extension UNet {
    /// The model's `state_dict` entries in PyTorch order: per module its parameters, then for
    /// batch norms `running_mean`, `running_var`, `num_batches_tracked` (I64, shape []).
    public var stateDictEntries: [StateDictEntry] {
        var out: [StateDictEntry] = []
        var buffers = arena.bufferSlots[...]
        var counters = arena.counterNames[...]
        for slot in arena.parameterSlots {
            out.append(StateDictEntry(name: slot.name, dtype: .f32, shape: slot.shape))
            // A batch norm's buffers follow its bias.
            let module = slot.name.split(separator: ".").dropLast().joined(separator: ".")
            if slot.name.hasSuffix(".bias"), let b = buffers.first, b.name.hasPrefix(module + ".") {
                out.append(StateDictEntry(name: b.name, dtype: .f32, shape: b.shape))
                buffers.removeFirst()
                let v = buffers.removeFirst()
                out.append(StateDictEntry(name: v.name, dtype: .f32, shape: v.shape))
                out.append(StateDictEntry(name: counters.removeFirst(), dtype: .i64, shape: []))
            }
        }
        precondition(buffers.isEmpty && counters.isEmpty)
        return out
    }

    /// The model as a safetensors file (parameters, running statistics, batch counters).
    public func stateDict() -> SafeTensorsFile {
        var file = SafeTensorsFile()
        for e in stateDictEntries {
            if e.dtype == .i64 {
                let i = arena.counterNames.firstIndex(of: e.name)!
                file.set(e.name, SafeTensor(int64s: [arena.counters[i]], shape: []))
            } else if arena.parameterSlots.contains(where: { $0.name == e.name }) {
                file.set(e.name, SafeTensor(floats: arena.parameterValues(e.name), shape: e.shape))
            } else {
                let s = arena.bufferSlot(e.name)
                file.set(e.name, SafeTensor(floats: Array(UnsafeBufferPointer(start: arena.buffers + s.offset, count: s.count)), shape: e.shape))
            }
        }
        return file
    }

    /// Writes the model to a safetensors checkpoint that PyTorch loads with
    /// `model.load_state_dict(safetensors.torch.load_file(path))`.
    public func saveCheckpoint(to path: String, metadata: [String: String] = [:]) throws {
        var file = stateDict()
        file.metadata = metadata
        try file.write(to: path)
    }

    /// Loads a safetensors checkpoint; throws `.mismatch` listing every missing, unexpected,
    /// wrongly shaped or wrongly typed tensor, and then changes nothing.
    public func loadCheckpoint(from path: String) throws {
        try load(stateDict: SafeTensorsFile(contentsOf: path), source: path)
    }

    /// Loads tensors from an in-memory safetensors file (same checks as `loadCheckpoint`).
    public func load(stateDict file: SafeTensorsFile, source: String = "checkpoint") throws {
        let expected = stateDictEntries
        var problems: [String] = []
        let expectedNames = Set(expected.map(\.name))
        for e in expected {
            guard let t = file.tensors[e.name] else {
                problems.append("missing: \(e.name) \(e.dtype.rawValue) \(e.shape)")
                continue
            }
            if t.dtype != e.dtype { problems.append("dtype: \(e.name) is \(t.dtype.rawValue) in the file, model needs \(e.dtype.rawValue)") }
            if t.shape != e.shape { problems.append("shape: \(e.name) is \(t.shape) in the file, model needs \(e.shape)") }
        }
        for name in file.names where !expectedNames.contains(name) {
            problems.append("unexpected: \(name) \(file.tensors[name]!.shape)")
        }
        guard problems.isEmpty else {
            let model = "\(config.baseWidth) base width, depth \(config.depth), \(config.inChannels) in, \(config.classes) classes"
            throw EngineError(.mismatch, input: source,
                              reason: "checkpoint does not fit this U-Net (\(model)); \(problems.count) difference(s):\n"
                                  + problems.joined(separator: "\n"),
                              remedy: "use the model configuration the checkpoint was trained with, or a checkpoint of this configuration")
        }
        for e in expected {
            let t = file.tensors[e.name]!
            if e.dtype == .i64 {
                arena.counters[arena.counterNames.firstIndex(of: e.name)!] = t.int64s[0]
                continue
            }
            let values = t.floats
            let dst: UnsafeMutablePointer<Float>
            if let s = arena.parameterSlots.first(where: { $0.name == e.name }) { dst = arena.params + s.offset } else {
                dst = arena.buffers + arena.bufferSlot(e.name).offset
            }
            values.withUnsafeBufferPointer { dst.update(from: $0.baseAddress!, count: values.count) }
        }
    }
}
