import Anatomy
import Foundation
import ImagingCore
import NeuralEngine

extension ImagingError.Code {
    /// The model folder, its plan.json or its weights.safetensors does not exist.
    public static let modelNotFound = Self("model_not_found")
    /// The weights do not fit the plan's network, or the plan asks for what inference cannot do.
    public static let modelInvalid = Self("model_invalid")
}

/// A model folder on disk: `plan.json` (checked against the label catalog) and
/// `weights.safetensors` (loaded into the plan's U-Net). `metrics.json` and `MODEL.md` are
/// optional here (the daemon shows them; inference does not need them).
public struct ModelFolder: Sendable {
    public static let planFile = "plan.json"
    public static let weightsFile = "weights.safetensors"
    public static let metricsFile = "metrics.json"

    /// The folder as given.
    public var path: String
    public var plan: ModelPlan
    /// The model's version: `metrics.json`'s `"version"` string when present, else the folder's
    /// name (after resolving symlinks, so `models/current` reports the version it points to).
    public var version: String

    public var weightsPath: String { path + "/" + Self.weightsFile }

    /// Reads and validates `plan.json`; checks that the weights file exists (it is read by
    /// `loadNetwork`). Errors name the file and say what to do.
    public static func open(_ path: String, catalog: LabelCatalog) throws(ImagingError) -> ModelFolder {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
            throw ImagingError(.modelNotFound, input: path, reason: "the model folder does not exist",
                               remedy: "name a folder holding \(planFile) and \(weightsFile) (--model), or install the default model")
        }
        let planPath = path + "/" + planFile
        guard let data = fm.contents(atPath: planPath) else {
            throw ImagingError(.modelNotFound, input: planPath, reason: "the model folder has no readable \(planFile)",
                               remedy: "copy the complete model folder (\(planFile) and \(weightsFile))")
        }
        let plan: ModelPlan
        do {
            plan = try JSONDecoder().decode(ModelPlan.self, from: data)
        } catch {
            throw ImagingError(.planInvalid, input: planPath, reason: "not a valid plan: \(describe(error))",
                               remedy: "use the plan.json that came with the model's weights")
        }
        try plan.validate(against: catalog, source: planPath)
        guard plan.architecture.kind == "unet2d-bn" else {
            throw ImagingError(.modelInvalid, input: planPath, reason: "architecture '\(plan.architecture.kind)' is not unet2d-bn",
                               remedy: "use a model trained by segvol")
        }
        guard plan.architecture.inChannels == 1 else {
            throw ImagingError(.modelInvalid, input: planPath,
                               reason: "the network takes \(plan.architecture.inChannels) input channels; inference feeds one image",
                               remedy: "use a single-channel model")
        }
        guard fm.fileExists(atPath: path + "/" + weightsFile) else {
            throw ImagingError(.modelNotFound, input: path + "/" + weightsFile, reason: "the model folder has no \(weightsFile)",
                               remedy: "copy the complete model folder (\(planFile) and \(weightsFile))")
        }
        // The folder's own name; through a symlink such as models/current, the target's name.
        var version = URL(fileURLWithPath: path).resolvingSymlinksInPath().lastPathComponent
        if let metrics = fm.contents(atPath: path + "/" + metricsFile),
           let object = try? JSONSerialization.jsonObject(with: metrics) as? [String: Any],
           let v = object["version"] as? String, !v.isEmpty {
            version = v
        }
        return ModelFolder(path: path, plan: plan, version: version)
    }

    /// The U-Net of the plan with the folder's weights, in evaluation mode.
    /// Throws `model_invalid` listing every tensor that does not fit (name, shape, dtype).
    public func loadNetwork(threadCount: Int? = nil) throws(ImagingError) -> UNet {
        let a = plan.architecture
        let net = UNet(config: UNetConfig(inChannels: a.inChannels, classes: plan.outputs.count, baseWidth: a.baseWidth, depth: a.depth))
        if let threadCount { net.threadCount = threadCount }
        do {
            try net.loadCheckpoint(from: weightsPath)
        } catch let error as EngineError {
            throw ImagingError(.modelInvalid, input: weightsPath, reason: error.reason,
                               remedy: "the weights do not belong to this plan.json: use the matching pair from one model folder")
        } catch {
            throw ImagingError(.modelInvalid, input: weightsPath, reason: "\(error)", remedy: "use the weights that came with the plan")
        }
        net.mode = .eval
        return net
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing key '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            "bad value at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.dataCorrupted(let c): "not JSON (\(c.debugDescription))"
        default: "\(error)"
        }
    }
}
