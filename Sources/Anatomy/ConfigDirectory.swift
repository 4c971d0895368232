import Foundation
import ImagingCore

/// Finds the configuration folder (the one holding `labels.toml`).
///
/// Order, first match wins: an explicit path (a command-line option), the environment variable
/// `SEGVOL_CONFIG_DIR`, `/etc/segvol` when it holds the catalog, and last the package's own
/// `Config/` folder found from this source file's path (development builds run from a checkout).
/// An explicit path or `SEGVOL_CONFIG_DIR` that lacks the catalog is an error, never skipped:
/// an operator who names a folder wants that folder.
public enum ConfigDirectory {
    /// The environment variable that names the configuration folder.
    public static let environmentKey = "SEGVOL_CONFIG_DIR"
    /// The installed location.
    public static let systemDirectory = "/etc/segvol"

    /// The package's `Config/` folder, derived from this file's compile-time path.
    public static var sourceTreeDirectory: String {
        // #filePath = <package>/Sources/Anatomy/ConfigDirectory.swift
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Config").path
    }

    /// The folder to read configuration from; see the type's documentation for the order.
    public static func locate(explicit: String? = nil,
                              environment: [String: String] = ProcessInfo.processInfo.environment,
                              systemDirectory: String = ConfigDirectory.systemDirectory) throws(ImagingError) -> String {
        let fm = FileManager.default
        func holdsCatalog(_ dir: String) -> Bool { fm.fileExists(atPath: dir + "/" + LabelCatalog.fileName) }
        if let explicit {
            guard holdsCatalog(explicit) else {
                throw ImagingError(.configNotFound, input: explicit, reason: "the folder holds no \(LabelCatalog.fileName)",
                                   remedy: "name the folder that holds segvol's Config files")
            }
            return explicit
        }
        if let env = environment[environmentKey], !env.isEmpty {
            guard holdsCatalog(env) else {
                throw ImagingError(.configNotFound, input: env,
                                   reason: "\(environmentKey) names a folder that holds no \(LabelCatalog.fileName)",
                                   remedy: "point \(environmentKey) at the folder holding segvol's Config files, or unset it")
            }
            return env
        }
        if holdsCatalog(systemDirectory) { return systemDirectory }
        let dev = sourceTreeDirectory
        if holdsCatalog(dev) { return dev }
        throw ImagingError(.configNotFound, input: systemDirectory,
                           reason: "no \(LabelCatalog.fileName) in \(systemDirectory) or in the source tree's Config/",
                           remedy: "install segvol's Config files to \(systemDirectory) or set \(environmentKey)")
    }
}
