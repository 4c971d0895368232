import Anatomy
import Foundation
import ImagingCore
import NIfTIIO
import Phantoms
import Spool

/// The throughput half of `segvol bench pipeline`: a temporary site, a child `segvol serve
/// --exit-when-idle`, N phantom NIfTI drops renamed into the inboxes at once.
///
/// A folder `inbox/thigh/hold` (folders never settle: the folder quiet time is an hour) keeps the
/// daemon from exiting while it starts; the idle RSS is read after "segvol ready", then the drops
/// go in and the holder goes out. Latency is drop → `finishedAt` of the job's `job.json`.
struct DaemonThroughput {
    var executable: String
    var modelPath: String
    var matrix: [Int]
    var slices: Int
    var scans: Int
    var work: String

    struct Result {
        var text: String
    }

    func run(catalog: LabelCatalog) throws -> Result {
        let fm = FileManager.default
        let site = work + "/root", staging = work + "/staging"
        for region in Region.allCases { try fm.createDirectory(atPath: "\(site)/inbox/\(region.rawValue)", withIntermediateDirectories: true) }
        try fm.createDirectory(atPath: staging, withIntermediateDirectories: true)
        try fm.createDirectory(atPath: "\(site)/inbox/thigh/hold", withIntermediateDirectories: true)
        guard fm.createFile(atPath: "\(site)/inbox/thigh/hold/keep", contents: Data()) else {
            throw benchError("cannot create the holder file in the temporary site", log: "")
        }
        let config = work + "/segvol.toml"
        try writeConfig(to: config, root: site)

        // The drops, written before the clock starts: regions in turn, one seed each.
        var drops: [(name: String, region: Region)] = []
        for n in 0..<scans {
            let region = Region.allCases[n % Region.allCases.count]
            let request = PhantomRequest(region: region, seed: UInt64(100 + n), matrix: matrix, slices: slices, oblique: false, rays: 64)
            let phantom = try PhantomGenerator.generate(request, catalog: catalog)
            let name = "bench-\(n + 1).nii.gz"
            try NIfTIWriter.writeImage(phantom.image, to: "\(staging)/\(name)", description: "segvol bench pipeline")
            drops.append((name, region))
        }
        sync()

        let log = work + "/serve.log"
        guard fm.createFile(atPath: log, contents: Data()) else {
            throw benchError("cannot create the daemon's log file", log: log)
        }
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: executable)
        daemon.arguments = ["serve", "--config", config, "--exit-when-idle"]
        var env = ProcessInfo.processInfo.environment
        for key in ["NOTIFY_SOCKET", "JOURNAL_STREAM", "WATCHDOG_USEC", "WATCHDOG_PID"] { env.removeValue(forKey: key) }
        daemon.environment = env
        daemon.standardOutput = FileHandle(forWritingAtPath: log)
        daemon.standardError = FileHandle(forWritingAtPath: log)
        try daemon.run()
        let pid = daemon.processIdentifier
        defer { if daemon.isRunning { kill(pid, SIGTERM) } }

        // Ready: the log says so (no notify socket here). Then idle RSS, after a short settle.
        let startWait = Date()
        while !(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("segvol ready")) {
            guard daemon.isRunning, Date().timeIntervalSince(startWait) < 120 else {
                throw benchError("the daemon did not report ready", log: log)
            }
            usleep(50_000)
        }
        usleep(500_000)
        let idleKB = Self.status(pid, "VmRSS") ?? 0

        let dropTime = Date().timeIntervalSince1970
        for drop in drops {
            try fm.moveItem(atPath: "\(staging)/\(drop.name)", toPath: "\(site)/inbox/\(drop.region.rawValue)/\(drop.name)")
        }
        try fm.moveItem(atPath: "\(site)/inbox/thigh/hold", toPath: "\(staging)/hold")

        var peakKB = idleKB, workerPeakKB = 0
        while daemon.isRunning {
            if let hwm = Self.status(pid, "VmHWM") { peakKB = max(peakKB, hwm) }
            for child in Self.children(pid) { workerPeakKB = max(workerPeakKB, Self.status(child, "VmHWM") ?? 0) }
            guard Date().timeIntervalSince1970 - dropTime < 3600 else { throw benchError("the daemon ran over an hour", log: log) }
            usleep(50_000)
        }
        let wall = Date().timeIntervalSince1970 - dropTime
        guard daemon.terminationStatus == 0 else { throw benchError("the daemon exited with \(daemon.terminationStatus)", log: log) }

        var latencies: [Double] = []
        for job in (try? fm.contentsOfDirectory(atPath: site + "/archive")) ?? [] {
            guard let data = fm.contents(atPath: "\(site)/archive/\(job)/job.json"),
                  let record = try? JSONDecoder().decode(JobRecord.self, from: data), let done = record.finishedAt else { continue }
            latencies.append(done - dropTime)
        }
        let failed = ((try? fm.contentsOfDirectory(atPath: site + "/failed")) ?? []).filter(JobRecord.isJobID).count
        latencies.sort()
        func pct(_ p: Double) -> Double { latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int((p * Double(latencies.count)).rounded(.up)) - 1)] }
        let done = latencies.count
        var lines = ["throughput: \(scans) NIfTI drops (\(matrix[0])×\(matrix[1])×\(slices), regions in turn) at once into `segvol serve --exit-when-idle` (file quiet time 1 s)"]
        lines.append(String(format: "  done %d, failed %d; wall time drop → idle %.2f s", done, failed, wall))
        lines.append(String(format: "  scans/hour %.1f", wall > 0 ? Double(done) * 3600 / wall : 0))
        lines.append(String(format: "  job latency drop → done: p50 %.2f s, p95 %.2f s", pct(0.5), pct(0.95)))
        lines.append(String(format: "  daemon RSS: idle %.1f MiB, peak %.1f MiB; worker peak RSS %.1f MiB",
                            Double(idleKB) / 1024, Double(peakKB) / 1024, Double(workerPeakKB) / 1024))
        return Result(text: lines.joined(separator: "\n"))
    }

    /// The shipped configuration with the site here, short quiet times (folders: never, see the
    /// type's documentation), low disk watermarks and the benchmark's model.
    func writeConfig(to path: String, root: String) throws {
        let shipped = try ConfigDirectory.locate() + "/segvol.toml"
        let text = try String(contentsOfFile: shipped, encoding: .utf8)
        let values = ["root": "\"\(root)\"", "quiet_folder_s": "3600", "quiet_file_s": "1", "rescan_interval_s": "1",
                      "min_free_mb": "64", "min_free_percent": "1", "dir": "\"\(modelPath)\""]
        var seen = Set<String>()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            let key = line.split(separator: "=", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            guard !line.hasPrefix("#"), line.contains("="), let value = values[key] else { return String(line) }
            seen.insert(key)
            return "\(key) = \(value)"
        }
        guard seen.count == values.count else {
            throw ImagingError(.configNotFound, input: shipped, reason: "keys \(Set(values.keys).subtracting(seen).sorted()) not found",
                               remedy: "use the segvol.toml of this version")
        }
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    func benchError(_ reason: String, log: String) -> ImagingError {
        let tail = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").suffix(15).joined(separator: "\n")
        return ImagingError(.unreadable, input: log, reason: "\(reason); its log ends:\n\(tail)", remedy: "run `segvol serve` on the site by hand")
    }

    /// A `/proc/<pid>/status` field in kB.
    static func status(_ pid: Int32, _ field: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
        }
        return nil
    }

    /// The direct children of `pid` (the workers), over all its threads.
    static func children(_ pid: Int32) -> [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { task in
            let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? ""
            return text.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
    }
}
