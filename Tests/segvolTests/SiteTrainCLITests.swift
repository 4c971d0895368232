import Foundation
import Testing
import TestSupport

/// `segvol train --config` (site mode) and `segvol annotations` as the timer and an operator run them.
@Suite final class SiteTrainCLITests {
    let root: String = {
        let d = NSTemporaryDirectory() + "segvol-site-train-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()
    deinit { try? FileManager.default.removeItem(atPath: root) }

    var config: String { root + "/segvol.toml" }

    /// A site: a current model (random weights of a 3-output thigh plan), one annotated phantom
    /// case in annotations/thigh/, a configuration with a long run.
    func makeSite() throws {
        let model = try TinyThighModel.writeModel(to: root + "/seed-models/v1")
        let g = try CLITests.run(["phantom", "--region", "thigh", "--seed", "3", "--matrix", "48x48", "--slices", "3", "-o", root + "/gen"])
        #expect(g.status == 0, "\(g.stderr)")
        try FileManager.default.createDirectory(atPath: root + "/annotations/thigh", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: root + "/gen/phantom-thigh-3-v1", toPath: root + "/annotations/thigh/case-a")
        // Phantom data: one fully labelled validation subject (the regression guard).
        let v = try CLITests.run(["phantom", "--region", "thigh", "--seed", "5", "--matrix", "48x48", "--slices", "3", "-o", root + "/phantoms"])
        #expect(v.status == 0, "\(v.stderr)")
        try Data(#"{"format":"segvol-split","version":1,"validationFraction":0.5,"subjects":{"phantom-thigh-5":"validation"}}"#.utf8)
            .write(to: URL(fileURLWithPath: root + "/phantoms/split.json"))
        let toml = """
            [site]
            root = "\(root)"
            [inbox]
            quiet_folder_s = 0.05
            [log]
            target = "stderr"
            [model]
            dir = "\(model)"
            [retrain]
            steps = 100000
            validate_every = 50
            batch = 2
            validation_fraction = 0.0
            phantom_data = "\(root)/phantoms"
            """
        try Data(toml.utf8).write(to: URL(fileURLWithPath: config))
    }

    /// The first resumable state of the site run, if written yet.
    func stateFile() -> String? {
        let runs = root + "/state/retrain"
        for run in (try? FileManager.default.contentsOfDirectory(atPath: runs)) ?? [] where !run.hasPrefix(".") {
            let state = runs + "/" + run + "/candidate/training/state.safetensors"
            if FileManager.default.fileExists(atPath: state) { return state }
        }
        return nil
    }

    @Test func killedSiteRunResumesThenHasNothingToDo() throws {
        try makeSite()
        // First run: intake, then training; killed with SIGKILL once a state was checkpointed.
        let log = root + "/first.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.executable)
        p.arguments = ["train", "--config", config, "--threads", "1"]
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        var waited = 0
        while stateFile() == nil && p.isRunning && waited < 1200 {
            usleep(100_000)
            waited += 1
        }
        #expect(p.isRunning, "the run ended before it could be killed: \(String(decoding: FileManager.default.contents(atPath: log) ?? Data(), as: UTF8.self))")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        try handle.close()
        #expect(p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGKILL)
        let first = String(decoding: FileManager.default.contents(atPath: log) ?? Data(), as: UTF8.self)
        #expect(first.contains("annotation accepted: thigh case ") && !first.contains("case-a"), "\(first)")
        #expect(stateFile() != nil)

        let listed = try CLITests.run(["annotations", "list", "--config", config])
        #expect(listed.status == 0 && listed.stdout.contains("1 case(s)") && listed.stdout.contains("subject phantom-thigh-3"))

        // The next invocation resumes the same run folder and finishes it (shorter, via --steps).
        let second = try CLITests.run(["train", "--config", config, "--threads", "1", "--steps", "60"])
        #expect(second.status == 0, "\(second.stderr)")
        let resumedAt = second.stdout.split(separator: "\n").first { $0.hasPrefix("resumed at step ") }
            .flatMap { Int($0.dropFirst("resumed at step ".count)) }
        #expect((resumedAt ?? 0) >= 25, "\(second.stdout)")
        // The gate decided (promoted or rejected) and the registry holds the base and the candidate.
        #expect(second.stdout.contains("candidate promoted as version") || second.stdout.contains("candidate rejected as version"), "\(second.stdout)")
        #expect(second.stderr.contains("model promoted") || second.stderr.contains("model rejected"), "\(second.stderr)")
        let models = try CLITests.run(["models", "list", "--config", config])
        #expect(models.status == 0 && models.stdout.split(separator: "\n").count >= 3, "\(models.stdout)")
        let runFolder = URL(fileURLWithPath: stateFile()!).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let result = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: runFolder + "/result.json"))) as? [String: Any]
        #expect(result?["steps"] as? Int == 60 && result?["parentModel"] as? String == "v1" && result?["validationCases"] as? Int == 1)
        #expect((result?["decision"] as? String)?.contains("as version") == true)
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: runFolder + "/candidate/metrics.json"))) as? [String: Any]
        #expect(metrics?["parentModel"] as? String == "v1" && (metrics?["storeCases"] as? [String])?.count == 1)

        // Nothing new: one line, exit 0.
        let third = try CLITests.run(["train", "--config", config])
        #expect(third.status == 0 && third.stderr.contains("nothing to do"), "\(third.stderr)")
        #expect(third.stderr.split(separator: "\n").count == 1, "\(third.stderr)")

        // While another run holds the site's lock, a second one leaves at once.
        let fd = open(root + "/state/retrain/train.lock", O_RDWR)
        #expect(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
        let blocked = try CLITests.run(["train", "--config", config])
        close(fd)
        #expect(blocked.status == 0 && blocked.stderr.contains("another `segvol train` is running"), "\(blocked.stderr)")
    }

    /// SIGKILL right after the gate's decision is recorded (before result.json): the next run
    /// completes the report from the record and registers nothing more.
    @Test func killedAfterTheDecisionRegistersTheCandidateOnce() throws {
        try makeSite()
        let toml = try String(contentsOfFile: config, encoding: .utf8)
            .replacingOccurrences(of: "steps = 100000", with: "steps = 4").replacingOccurrences(of: "validate_every = 50", with: "validate_every = 2")
        try Data(toml.utf8).write(to: URL(fileURLWithPath: config))
        let killed = try CLITests.run(["train", "--config", config, "--threads", "1"], environment: ["SEGVOL_TEST_CRASH_AT": "retrain-decided"])
        #expect(killed.status == SIGKILL, "\(killed.stderr)")
        #expect(killed.stderr.contains("model promoted") || killed.stderr.contains("model rejected"), "\(killed.stderr)")
        let runs = root + "/state/retrain"
        let run = try #require(try FileManager.default.contentsOfDirectory(atPath: runs).first { $0.hasPrefix("v1-") })
        #expect(FileManager.default.fileExists(atPath: "\(runs)/\(run)/decided.json") && !FileManager.default.fileExists(atPath: "\(runs)/\(run)/result.json"))
        let before = try CLITests.run(["models", "list", "--config", config])

        let second = try CLITests.run(["train", "--config", config, "--threads", "1"])
        #expect(second.status == 0 && second.stderr.contains("was decided before it was stopped"), "\(second.stderr)")
        #expect(!second.stderr.contains("model promoted") && !second.stderr.contains("model rejected"), "\(second.stderr)")
        #expect(second.stdout.contains("as version") && second.stdout.contains("1 validation case(s) (0 from the site, 1 from the phantom guard set)"), "\(second.stdout)")
        let after = try CLITests.run(["models", "list", "--config", config])
        #expect(before.status == 0 && after.stdout == before.stdout, "\(before.stdout)\n---\n\(after.stdout)")
        #expect(FileManager.default.fileExists(atPath: "\(runs)/\(run)/result.json"))
    }

    @Test func defaultSetTakesNoCaseOptions() throws {
        let r = try CLITests.run(["phantom", "--default-set", "--seed", "3", "-o", root + "/set"])
        #expect(r.status == 64 && r.stderr.contains("--default-set takes only -o"), "\(r.stderr)")
        let noSeed = try CLITests.run(["phantom", "--region", "thigh", "-o", root + "/one"])
        #expect(noSeed.status == 64 && noSeed.stderr.contains("--seed"), "\(noSeed.stderr)")
    }
}
