/// Name prefixes of the optimiser tensors in a training-state file.
enum TrainingStateNames {
    static let m = "optimizer.adam.m."
    static let v = "optimizer.adam.v."
    static let step = "optimizer.adam.step"
}

extension UNet {
    /// Writes everything needed to resume training: the model's `state_dict` (as
    /// `saveCheckpoint`) plus Adam's moments (`optimizer.adam.m.<name>`, `optimizer.adam.v.<name>`)
    /// and step count (`optimizer.adam.step`, I64). PyTorch reads the model part with
    /// `load_state_dict(..., strict=False)`; `saveCheckpoint` writes the model alone.
    public func saveTrainingState(to path: String, optimizer: Adam, metadata: [String: String] = [:]) throws {
        var file = stateDict()
        file.metadata = metadata
        for slot in arena.parameterSlots {
            let m = Array(UnsafeBufferPointer(start: arena.adamM + slot.offset, count: slot.count))
            let v = Array(UnsafeBufferPointer(start: arena.adamV + slot.offset, count: slot.count))
            file.set(TrainingStateNames.m + slot.name, SafeTensor(floats: m, shape: slot.shape))
            file.set(TrainingStateNames.v + slot.name, SafeTensor(floats: v, shape: slot.shape))
        }
        file.set(TrainingStateNames.step, SafeTensor(int64s: [Int64(optimizer.step)], shape: []))
        try file.write(to: path)
    }

    /// Loads a file written by `saveTrainingState`: the model, then Adam's moments, and returns
    /// an optimiser with the given settings at the saved step. Throws `.mismatch` (and changes
    /// nothing) when any model or optimiser tensor is missing or differs in shape or dtype.
    public func loadTrainingState(from path: String, config: AdamConfig) throws -> Adam {
        let file = try SafeTensorsFile(contentsOf: path)
        var model = SafeTensorsFile()
        var problems: [String] = []
        for name in file.names where !name.hasPrefix("optimizer.") { model.set(name, file.tensors[name]!) }
        for slot in arena.parameterSlots {
            for prefix in [TrainingStateNames.m, TrainingStateNames.v] {
                guard let t = file.tensors[prefix + slot.name] else {
                    problems.append("missing: \(prefix + slot.name) F32 \(slot.shape)")
                    continue
                }
                if t.dtype != .f32 || t.shape != slot.shape {
                    problems.append("shape: \(prefix + slot.name) is \(t.dtype.rawValue) \(t.shape) in the file, model needs F32 \(slot.shape)")
                }
            }
        }
        let step = file.tensors[TrainingStateNames.step]
        if step?.dtype != .i64 || step?.shape != [] { problems.append("missing: \(TrainingStateNames.step) I64 []") }
        guard problems.isEmpty else {
            throw EngineError(.mismatch, input: path,
                              reason: "training state lacks a usable optimiser state; \(problems.count) difference(s):\n" + problems.joined(separator: "\n"),
                              remedy: "resume from a file written by saveTrainingState for this model configuration, or start the optimiser afresh")
        }
        try load(stateDict: model, source: path)
        for slot in arena.parameterSlots {
            let m = file.tensors[TrainingStateNames.m + slot.name]!.floats
            let v = file.tensors[TrainingStateNames.v + slot.name]!.floats
            for i in 0..<slot.count {
                arena.adamM[slot.offset + i] = m[i]
                arena.adamV[slot.offset + i] = v[i]
            }
        }
        return Adam(config: config, step: Int(step!.int64s[0]))
    }
}
