import Anatomy
import Foundation
import Segmentation
import Testing

/// `segvol models` as the admin runs it, and `kill -9` in the middle of a registration or a
/// switch (the registry's test hook `SEGVOL_TEST_CRASH_AT`, and SIGKILL at random times).
@Suite struct ModelsCLITests {
    static let defaultModel = ModelDirectory.sourceTreeDirectory

    /// A site configuration whose registry is `<dir>/site/models`; returns the config path.
    static func site(_ dir: String, extra: String = "") throws -> String {
        let config = dir + "/segvol.toml"
        try "[site]\nroot = \"\(dir)/site\"\n\n[retrain]\nmodels_dir = \"models\"\n\(extra)".write(toFile: config, atomically: true, encoding: .utf8)
        return config
    }

    /// A copy of the default model with one weight byte changed (new weights, same network).
    static func variant(_ dir: String, _ name: String, byte: UInt8) throws -> String {
        let folder = dir + "/" + name
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for file in ["plan.json", "metrics.json"] { try FileManager.default.copyItem(atPath: defaultModel + "/" + file, toPath: folder + "/" + file) }
        var weights = try Data(contentsOf: URL(fileURLWithPath: defaultModel + "/weights.safetensors"))
        weights[weights.count - 1] ^= byte   // the last byte of the last tensor's data
        try weights.write(to: URL(fileURLWithPath: folder + "/weights.safetensors"))
        return folder
    }

    static func temporary() -> String {
        let d = NSTemporaryDirectory() + "segvol-models-cli-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// Removes a folder holding read-only registered versions.
    static func cleanUp(_ dir: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/chmod")
        p.arguments = ["-R", "u+w", dir]
        try? p.run()
        p.waitUntilExit()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// `current` resolves to a complete version that opens and loads.
    static func currentIsValid(_ models: String) throws -> String {
        let folder = try ModelFolder.open(models + "/current", catalog: try LabelCatalog.load())
        _ = try folder.loadNetwork(threadCount: 1)
        return folder.version
    }

    /// Runs segvol with an environment addition; returns (status, killed by a signal).
    static func run(_ arguments: [String], environment: [String: String] = [:], killAfter: Double? = nil) throws -> (Int32, Bool) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.executable)
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        if let killAfter {
            Thread.sleep(forTimeInterval: killAfter)
            kill(p.processIdentifier, SIGKILL)
        }
        p.waitUntilExit()
        return (p.terminationStatus, p.terminationReason == .uncaughtSignal)
    }

    @Test func listShowPromoteRollbackWithClearErrors() throws {
        let dir = Self.temporary()
        defer { Self.cleanUp(dir) }
        let config = try Self.site(dir)
        let empty = try CLITests.run(["models", "list", "--config", config])
        #expect(empty.status == 0 && empty.stdout.contains("no registered model"))
        let noRollback = try CLITests.run(["models", "rollback", "--config", config])
        #expect(noRollback.status == 69 && noRollback.stderr.contains("[nothing_to_roll_back]") && noRollback.stderr.contains("segvol models promote"))

        let registered = try CLITests.run(["models", "register", try Self.variant(dir, "a", byte: 1), "--config", config])
        #expect(registered.status == 0, "\(registered.stderr)")
        let models = dir + "/site/models"
        let id = try #require(try FileManager.default.contentsOfDirectory(atPath: models).first { $0.hasPrefix("20") })
        #expect(registered.stdout.contains("registered \(id)"))
        let list = try CLITests.run(["models", "list", "--config", config])
        #expect(list.stdout.contains("* default") && list.stdout.contains("  \(id)") && list.stdout.contains("unvalidated"), "\(list.stdout)")

        let promote = try CLITests.run(["models", "promote", id, "--config", config])
        #expect(promote.status == 0 && promote.stdout.contains("current: \(id) (was default)"))
        #expect(try Self.currentIsValid(models) == id)
        let show = try CLITests.run(["models", "show", "current", "--config", config])
        #expect(show.status == 0 && show.stdout.contains("version: \(id) (current)") && show.stdout.contains("parent: default"))
        #expect(show.stdout.contains("integrity: weights and plan match"))

        let unknown = try CLITests.run(["models", "show", "2020-01-01T0000Z-deadbeef", "--config", config])
        #expect(unknown.status == 66 && unknown.stderr.contains("[model_version_unknown]"))
        let rollback = try CLITests.run(["models", "rollback", "--config", config])
        #expect(rollback.status == 0 && rollback.stdout.contains("current: default (rolled back from \(id))"))
        #expect(try Self.currentIsValid(models) == "default")

        let badConfig = try Self.site(dir, extra: "gate_class_dice_tolerance = 1.5\n")
        let check = try CLITests.run(["check-config", "--config", badConfig])
        #expect(check.status == 78 && check.stderr.contains("retrain.gate_class_dice_tolerance"), "\(check.stderr)")
        #expect(try CLITests.run(["models", "list", "--config", badConfig]).status == 78)
    }

    @Test func killDuringRegisterOrSwitchLeavesAValidCurrent() throws {
        let dir = Self.temporary()
        defer { Self.cleanUp(dir) }
        let models = dir + "/models"
        let base = ["--models-dir", models]
        #expect(try Self.run(["models", "register", try Self.variant(dir, "a", byte: 1)] + base).0 == 0)
        let a = try #require(try FileManager.default.contentsOfDirectory(atPath: models).first { $0.hasPrefix("20") })

        // Killed after the version folder is complete but before its rename: nothing registered.
        let crashed = try Self.run(["models", "register", try Self.variant(dir, "b", byte: 2)] + base,
                                   environment: ["SEGVOL_TEST_CRASH_AT": "register-staged"])
        #expect(crashed.1, "the hook should have killed the process")
        #expect(try FileManager.default.contentsOfDirectory(atPath: models).contains { $0.hasPrefix(".tmp-") })
        #expect(try Self.currentIsValid(models) == "default")

        // Killed at each step of a switch: current is valid at once, and the next command
        // completes the switch that history.json already records.
        for point in ["switch-history", "switch-temp-link", "switch-renamed"] {
            #expect(try Self.run(["models", "promote", "default"] + base).0 == 0)
            let (_, killed) = try Self.run(["models", "promote", a] + base, environment: ["SEGVOL_TEST_CRASH_AT": point])
            #expect(killed, "\(point)")
            let now = try Self.currentIsValid(models)
            #expect(now == (point == "switch-renamed" ? a : "default"), "\(point)")
            #expect(try Self.run(["models", "list"] + base).0 == 0)
            #expect(try Self.run(["models", "promote", a] + base).0 == 0)   // recovers, then a no-op
            #expect(try Self.currentIsValid(models) == a, "\(point)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: models).filter { $0.hasPrefix(".") } == [".lock"])
        }

        // SIGKILL at random times during promotions and rollbacks.
        var generator = SystemRandomNumberGenerator()
        for i in 0..<8 {
            let command = i % 2 == 0 ? ["models", "rollback"] : ["models", "promote", a]
            _ = try Self.run(command + base,
                             killAfter: Double.random(in: 0.0...0.15, using: &generator))
            let now = try Self.currentIsValid(models)
            #expect(now == a || now == "default")
        }
    }
}
