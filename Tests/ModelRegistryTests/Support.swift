import Anatomy
import Foundation
import Logging
import NeuralEngine
import Segmentation
@testable import ModelRegistry

/// Temporary folders, model variants and an in-memory log for the registry tests.
enum Support {
    static let catalog: LabelCatalog = try! LabelCatalog.load()
    /// The shipped default model (the registry's base).
    static let defaultModel = ModelDirectory.sourceTreeDirectory

    /// A fresh temporary folder; remove it with `cleanUp` (registered versions are read-only).
    static func temporaryDirectory(_ tag: String) -> String {
        let path = NSTemporaryDirectory() + "segvol-registry-\(tag)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func cleanUp(_ path: String) { try? FileSteps.remove(path) }

    /// A copy of the default model whose output head is changed by `damage` (the head's weights
    /// as (classes, width) rows); plan.json and metrics.json copied unchanged.
    static func variant(of source: String = defaultModel, in dir: String, name: String,
                        damage: (inout [Float], _ classes: Int, _ width: Int) -> Void) throws -> String {
        let folder = dir + "/" + name
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for file in ["plan.json", "metrics.json"] { try FileManager.default.copyItem(atPath: source + "/" + file, toPath: folder + "/" + file) }
        var weights = try SafeTensorsFile(contentsOf: source + "/weights.safetensors")
        let head = weights.tensors["head.weight"]!
        var values = head.floats
        damage(&values, head.shape[0], head.shape[1])
        weights.set("head.weight", SafeTensor(floats: values, shape: head.shape))
        try weights.write(to: folder + "/weights.safetensors")
        return folder
    }

    /// A head whose foreground output channels are rotated by one: every class is predicted as
    /// its neighbour (a model trained on shuffled labels looks like this).
    static func rotateClasses(_ w: inout [Float], _ classes: Int, _ width: Int) {
        let original = w
        for c in 1..<classes {
            let from = c == classes - 1 ? 1 : c + 1
            for k in 0..<width { w[c * width + k] = original[from * width + k] }
        }
    }

    /// A harmless change (one weight nudged by 1e-6): new weights, same predictions.
    static func nudge(_ w: inout [Float], _ classes: Int, _ width: Int) { w[0] += 1e-6 }
}
