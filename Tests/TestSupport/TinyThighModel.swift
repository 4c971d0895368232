import Foundation
import NeuralEngine

/// The smallest useful segvol model for tests: a width-4, depth-2 U-Net over background,
/// vastus lateralis and bone for the thigh, at 4.5 mm on 48 × 48 windows (a 48-matrix phantom).
public enum TinyThighModel {
    public static let planJSON = """
        {"format":"segvol-model-plan","version":1,
         "architecture":{"kind":"unet2d-bn","inChannels":1,"baseWidth":4,"depth":2},
         "inputSize":[48,48],
         "outputs":[{"id":0,"name":"background"},{"id":12,"name":"vastus_lateralis"},{"id":42,"name":"bone"}],
         "regions":{"thigh":{"profile":{"inPlaneSpacing":4.5},
                             "normalization":{"kind":"percentile","low":0.5,"high":99.5},"classIDs":[12,42]}},
         "loss":"xent"}
        """

    /// Writes the plan to `path` and returns it.
    @discardableResult
    public static func writePlan(to path: String) throws -> String {
        try Data(planJSON.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A model folder `folder` (created) with the plan and random weights (seed 2); returns it.
    @discardableResult
    public static func writeModel(to folder: String) throws -> String {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try writePlan(to: folder + "/plan.json")
        try UNet(config: UNetConfig(inChannels: 1, classes: 3, baseWidth: 4, depth: 2), seed: 2).saveCheckpoint(to: folder + "/weights.safetensors")
        return folder
    }
}
