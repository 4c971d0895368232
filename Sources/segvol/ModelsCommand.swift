import ArgumentParser
import Configuration
import Foundation
import ImagingCore
import ModelRegistry
import Segmentation

/// `segvol models list | show V | promote V | rollback | register FOLDER`: the model registry
/// for the admin (docs/retraining.md). Mutations take the registry's lock and repair what a
/// crash left first; the daemon picks up a new `current` from its next job.
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List, inspect, promote and roll back the registered segmentation models.",
        subcommands: [List.self, Show.self, Promote.self, Rollback.self, Register.self]
    )

    /// Options every subcommand shares.
    struct Options: ParsableArguments {
        @Option(help: "The configuration file (its retrain.models_dir names the registry).")
        var config = defaultConfigPath
        @Option(name: .customLong("models-dir"), help: "The registry folder, overriding the configuration.")
        var modelsDir: String?

        /// The registry; configuration errors exit 78.
        func registry(crashHook: Bool = false) throws -> ModelRegistry {
            let directory: String
            if let modelsDir {
                directory = modelsDir
            } else {
                do { directory = SitePaths.models(try ConfigLoader.load(path: config)) } catch {
                    note(error.description)
                    throw ExitCode(ExitStatus.config)
                }
            }
            return ModelRegistry(directory: directory,
                                 crashPoint: crashHook ? ProcessInfo.processInfo.environment[ModelRegistry.crashEnvironmentKey] : nil)
        }
    }

    /// Runs a registry step; an `ImagingError` is printed with its remedy and mapped to its exit status.
    static func attempt<T>(_ body: () throws(ImagingError) -> T) throws -> T {
        do { return try body() } catch {
            report(error)
            throw ExitCode(exitStatus(error))
        }
    }

    static func exitStatus(_ error: ImagingError) -> Int32 {
        switch error.code {
        case .modelVersionUnknown, .modelNotFound, .notFound: ExitStatus.noInput
        case .nothingToRollBack: ExitStatus.unavailable
        case .registryNotWritable: ExitStatus.noPermission
        case .writeFailed: ExitStatus.cannotCreate
        default: ExitStatus.dataError
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the registered versions, oldest first; * marks current.")
        @OptionGroup var options: Options

        func run() throws {
            let registry = try options.registry()
            let versions = registry.versions()
            if versions.isEmpty {
                print("no registered model in \(registry.directory); the daemon uses the shipped default (version default)")
                return
            }
            print("  version                     created               gate         mean Dice  parent")
            for v in versions {
                let p = v.provenance
                let dice = registry.decision(of: v.version).map { String(format: "%.4f", $0.candidateMeanDice) } ?? "–"
                print("\(v.isCurrent ? "*" : " ") \(pad(v.version, 27)) \(pad(p.created, 21)) \(pad(p.gate.rawValue, 12)) \(pad(dice, 10)) \(p.parentVersion ?? "–")")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a version's provenance, gate decision and integrity.")
        @OptionGroup var options: Options
        @Argument(help: "The version (see `segvol models list`); `current` for the current one.")
        var version: String

        func run() throws {
            let registry = try options.registry()
            let name = version == "current" ? (registry.currentVersion() ?? version) : version
            let p = try ModelsCommand.attempt { () throws(ImagingError) in try registry.provenance(of: name) }
            print("version: \(p.version)\(registry.currentVersion() == p.version ? " (current)" : "")")
            print("path: \(registry.path(of: p.version))")
            print("created: \(p.created)")
            print("parent: \(p.parentVersion ?? "–")")
            print("gate: \(p.gate.rawValue)")
            print("loss: \(p.loss ?? "–"), steps: \(p.steps.map(String.init) ?? "–"), data snapshot: \(p.dataSnapshotHash ?? "–")")
            print("weights SHA-256: \(p.weightsSHA256)")
            do { _ = try registry.verify(p.version); print("integrity: weights and plan match provenance.json") } catch {
                print("integrity: FAILED: \(error.reason)")
            }
            if let d = registry.decision(of: p.version) {
                print(String(format: "mean Dice: current %.4f, candidate %.4f (%+.4f; tolerance %.4f)",
                             d.currentMeanDice, d.candidateMeanDice, d.meanDiceChange, d.tolerances.meanDice))
                if let a = d.currentMedianVolumeErrorPercent, let b = d.candidateMedianVolumeErrorPercent {
                    print(String(format: "median abs. volume error: current %.2f %%, candidate %.2f %% (tolerance +%.2f points)", a, b, d.tolerances.volumeErrorPoints))
                }
                for c in d.classes where c.change != nil {
                    print(String(format: "  %@ %@: %.4f -> %.4f (%+.4f)", c.withinTolerance ? " " : "!", c.name, c.current!, c.candidate!, c.change!))
                }
            }
            for reason in p.gateReasons { print("reason: \(reason)") }
        }
    }

    struct Promote: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a version current (the daemon uses it from its next job).")
        @OptionGroup var options: Options
        @Argument(help: "The version to make current.")
        var version: String
        @Flag(help: "Promote a version the gate rejected.")
        var force = false

        func run() throws {
            let registry = try options.registry(crashHook: true)
            let s = try ModelsCommand.attempt { () throws(ImagingError) in try registry.promote(version, force: force) }
            print(s.changed ? "current: \(s.to) (was \(s.from ?? "none"))" : "\(s.to) is already current")
        }
    }

    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Return to the model that was current before the last promotion.")
        @OptionGroup var options: Options

        func run() throws {
            let registry = try options.registry(crashHook: true)
            let s = try ModelsCommand.attempt { () throws(ImagingError) in try registry.rollback() }
            print("current: \(s.to) (rolled back from \(s.from ?? "none"))")
        }
    }

    struct Register: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a model folder by hand (not gated; not promoted). An empty registry first imports the default model.")
        @OptionGroup var options: Options
        @Argument(help: "A model folder (plan.json, weights.safetensors, optional metrics.json).")
        var folder: String

        func run() throws {
            let registry = try options.registry(crashHook: true)
            let id = try ModelsCommand.attempt { () throws(ImagingError) -> String in
                try registry.recover()
                if registry.currentVersion() == nil,
                   let base = try? ModelDirectory.locate(environment: [:], systemDirectories: ["/usr/local/share/segvol/models/default", ModelDirectory.installedDirectory]) {
                    try registry.ensureBase(from: base)
                }
                return try registry.register(candidate: folder, parent: registry.currentVersion(), gate: .unvalidated)
            }
            print("registered \(id); make it current with `segvol models promote \(id)`")
        }
    }
}

/// Left-aligned in `width` columns.
private func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s : s + String(repeating: " ", count: width - s.count) }
