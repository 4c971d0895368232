import Configuration
import Foundation
import Testing
import ImagingCore
import NIfTIIO
@testable import Spool

/// The package root (Tests/DaemonTests/<file> → ../..).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// The `segvol` binary built beside the test bundle (`swift build --build-tests` builds it).
let segvolBinary: String? = {
    let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("segvol").path
    for candidate in [ProcessInfo.processInfo.environment["SEGVOL_BIN"], besideTests, packageRoot + "/.build/debug/segvol"] {
        if let candidate, FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    print("DaemonTests: no segvol binary found (build it with `swift build`); daemon tests are skipped")
    return nil
}()

/// A site folder and its configuration file for one `segvol serve` test.
final class DaemonSite {
    let root: String
    let configPath: String
    var sections: [String: [String: String]]

    init(quietFile: Double = 0.2, quietFolder: Double = 0.3, extra: [String: [String: String]] = [:]) {
        root = "/tmp/segvol-daemon-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        configPath = root + "/segvol.toml"
        sections = [
            "site": ["root": "\"\(root)/site\""],
            "inbox": ["quiet_file_s": "\(quietFile)", "quiet_folder_s": "\(quietFolder)", "rescan_interval_s": "0.3"],
            "worker": ["time_limit_s": "60", "max_attempts": "5", "backoff_s": "0.1", "backoff_max_s": "0.5", "stop_timeout_s": "10"],
            "disk": ["min_free_percent": "0", "min_free_mb": "0"],
            "log": ["target": "\"stderr\"", "level": "\"debug\""],
            // No model unless a test gives one: jobs are converted only (fast, and independent
            // of whether Models/default exists in this checkout).
            "model": ["dir": "\"/nonexistent/segvol-test-model\""],
        ]
        for (section, values) in extra { sections[section, default: [:]].merge(values) { $1 } }
        writeConfig()
    }

    deinit {
        // Registered model versions are read-only (docs/retraining.md): make the tree writable
        // so it can be removed.
        let chmod = Process()
        chmod.executableURL = URL(fileURLWithPath: "/bin/chmod")
        chmod.arguments = ["-R", "u+w", root]
        try? chmod.run()
        chmod.waitUntilExit()
        try? FileManager.default.removeItem(atPath: root)
    }

    func writeConfig() {
        let text = sections.sorted { $0.key < $1.key }.map { name, values in
            "[\(name)]\n" + values.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)\n" }.joined()
        }.joined(separator: "\n")
        FileManager.default.createFile(atPath: configPath, contents: Data(text.utf8))
    }

    var paths: SitePaths {
        var c = SegvolConfig()
        c.site.root = root + "/site"
        return SitePaths(c)
    }
    var store: JobStore { JobStore(paths: paths) }
    func inbox(_ region: String) -> String { paths.inbox + "/" + region }

    /// Writes a small NIfTI drop (durably, through a dotted temporary name) and returns its bytes.
    @discardableResult
    func dropNIfTI(_ name: String, region: String = "thigh", shape: [Int] = [8, 8, 4], seed: Float = 1) throws -> Data {
        try FileManager.default.createDirectory(atPath: inbox(region), withIntermediateDirectories: true)
        let count = shape.reduce(1, *)
        let grid = Grid(shape: shape, affine: .scaling(SIMD3(0.8, 0.8, 3)))
        let image = ImageVolume(grid: grid, data: (0..<count).map { Float($0 % 97) * seed })
        try NIfTIWriter.writeImage(image, to: inbox(region) + "/" + name)
        return try Data(contentsOf: URL(fileURLWithPath: inbox(region) + "/" + name))
    }

    /// Starts `segvol serve` (stdout/stderr to files under the site folder).
    func serve(_ extraArgs: [String] = [], environment: [String: String] = [:]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: segvolBinary!)
        process.arguments = ["serve", "--config", configPath] + extraArgs
        var env = ProcessInfo.processInfo.environment
        env["NOTIFY_SOCKET"] = nil
        env["WATCHDOG_USEC"] = nil
        env.merge(environment) { $1 }
        process.environment = env
        let log = root + "/serve-\(UUID().uuidString.prefix(4)).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: log)
        process.standardOutput = FileHandle(forWritingAtPath: log)
        try process.run()
        return process
    }

    /// Every job folder's record by drop name, per site folder.
    func locations() -> [String: [String]] {
        var out: [String: [String]] = [:]
        for (label, dir) in [("work", paths.work), ("archive", paths.archive), ("failed", paths.failed)] {
            for id in store.jobIDs(in: dir) {
                let record = store.load(dir: dir + "/" + id)
                let dropEmpty = ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/" + id + "/drop")) ?? []).isEmpty
                // A claim cut short before its rename holds no input (the drop is still in the inbox).
                if dropEmpty && (record == nil || record?.state == .claiming) { continue }
                out[record?.dropName ?? "?\(id)", default: []].append(label)
            }
        }
        for region in ["thigh", "calf", "abdomen"] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: inbox(region))) ?? [] where !isTemporaryName(name) {
                out[name, default: []].append("inbox")
            }
        }
        return out
    }
}

/// Waits until `condition` holds or `seconds` pass; returns whether it held.
func waitFor(_ seconds: Double, every: Double = 0.05, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if condition() { return true }
        usleep(useconds_t(every * 1_000_000))
    }
    return condition()
}

/// Waits for a process to exit (up to `seconds`); returns its status, or nil if it still runs.
func waitExit(_ process: Process, _ seconds: Double) -> Int32? {
    waitFor(seconds) { !process.isRunning } ? process.terminationStatus : nil
}

func sha256(_ path: String) -> String? { try? SHA256.hash(path: path) }

extension DaemonSite {
    /// Writes a large uint8 NIfTI-1 file directly (header by hand, zero voxels): fast even in
    /// debug builds, for tests that need the worker to allocate a lot.
    @discardableResult
    func dropRawNIfTI(_ name: String, region: String = "thigh", shape: [Int], random: Bool = false, into folder: String? = nil) throws -> Data {
        var header = [UInt8](repeating: 0, count: 352)
        func put<T>(_ value: T, at offset: Int) { withUnsafeBytes(of: value) { header.replaceSubrange(offset..<offset + $0.count, with: $0) } }
        put(Int32(348), at: 0)
        for (i, d) in ([3] + shape + [1, 1, 1, 1]).prefix(8).enumerated() { put(Int16(d), at: 40 + 2 * i) }
        put(Int16(2), at: 70)  // DT_UINT8
        put(Int16(8), at: 72)
        for i in 0..<8 { put(Float(1), at: 76 + 4 * i) }
        put(Float(352), at: 108)
        put(Int16(1), at: 254)  // sform_code
        put(Float(1), at: 280); put(Float(1), at: 300); put(Float(1), at: 320)
        header.replaceSubrange(344..<348, with: Array("n+1\0".utf8))
        var data = Data(header)
        var generator = SystemRandomNumberGenerator()
        data.append(random ? Data((0..<shape.reduce(1, *)).map { _ in UInt8.random(in: 0...255, using: &generator) }) : Data(count: shape.reduce(1, *)))
        let dir = folder ?? inbox(region)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let temp = dir + "/." + name
        FileManager.default.createFile(atPath: temp, contents: data)
        try FileManager.default.moveItem(atPath: temp, toPath: dir + "/" + name)
        return data
    }
}

/// Every daemon test runs inside this serialized suite: they start real processes with timing
/// expectations (watchdog cadence, deadlines), so they must not compete with each other.
@Suite(.serialized) enum DaemonSuite {}

/// Runs `segvol ARGS` to completion; returns its status, stdout and stderr.
func runSegvol(_ arguments: [String]) throws -> (code: Int32, out: String, err: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: segvolBinary!)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}
