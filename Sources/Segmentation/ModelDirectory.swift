import Foundation
import ImagingCore

/// Finds the model folder to segment with.
///
/// Order, first match wins: an explicit path (`--model`), the environment variable
/// `SEGVOL_MODEL_DIR`, `/var/lib/segvol/models/current` (the model the daemon promoted after
/// retraining), `/usr/share/segvol/models/default` (the installed default), and last the
/// package's own `Models/default` found from this source file's path (development builds run
/// from a checkout). A folder counts when it holds `plan.json`. An explicit path or
/// `SEGVOL_MODEL_DIR` is never skipped: it is returned as given and `ModelFolder.open` says what
/// is wrong with it.
public enum ModelDirectory {
    public static let environmentKey = "SEGVOL_MODEL_DIR"
    /// The promoted (retrained) model.
    public static let currentDirectory = "/var/lib/segvol/models/current"
    /// The installed default model.
    public static let installedDirectory = "/usr/share/segvol/models/default"

    /// The package's `Models/default`, from this file's compile-time path.
    public static var sourceTreeDirectory: String {
        // #filePath = <package>/Sources/Segmentation/ModelDirectory.swift
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Models").appendingPathComponent("default").path
    }

    /// The model folder to use; throws `model_not_found` naming every place looked at.
    public static func locate(explicit: String? = nil,
                              environment: [String: String] = ProcessInfo.processInfo.environment,
                              systemDirectories: [String] = [currentDirectory, installedDirectory]) throws(ImagingError) -> String {
        if let explicit { return explicit }
        if let env = environment[environmentKey], !env.isEmpty { return env }
        let candidates = systemDirectories + [sourceTreeDirectory]
        for dir in candidates where FileManager.default.fileExists(atPath: dir + "/" + ModelFolder.planFile) { return dir }
        throw ImagingError(.modelNotFound, input: sourceTreeDirectory,
                           reason: "no model found: none of \(candidates.joined(separator: ", ")) holds \(ModelFolder.planFile)",
                           remedy: "name a model folder with --model or \(environmentKey), or install the default model to \(installedDirectory)")
    }
}
