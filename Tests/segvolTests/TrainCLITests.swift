import Foundation
import Testing
import TestSupport

/// `segvol train` as an operator runs it.
@Suite final class TrainCLITests {
    let dir: String = {
        let d = NSTemporaryDirectory() + "segvol-train-cli-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()

    /// Swift Testing makes one instance per test: its folder goes with it.
    deinit { try? FileManager.default.removeItem(atPath: dir) }

    /// A thigh plan with two classes, coarse enough for a 48-matrix phantom.
    func writePlan() throws -> String { try TinyThighModel.writePlan(to: dir + "/plan.json") }

    @Test func unknownLossTermIsAUsageErrorWithItsColumn() throws {
        let r = try CLITests.run(["train", "--data", dir, "--plan", try writePlan(), "--loss", "xent_plus + dyce",
                                  "--steps", "1", "--out", dir + "/m"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("[loss_unknown_term]") && r.stderr.contains("dyce"))
    }

    @Test func trainsAModelFolderAndRefusesToOverwriteItsState() throws {
        let data = dir + "/data"
        let g = try CLITests.run(["phantom", "--region", "thigh", "--seed", "3", "--matrix", "48x48", "--slices", "3", "-o", data])
        #expect(g.status == 0, "\(g.stderr)")
        let plan = try writePlan(), out = dir + "/model"
        let args = ["train", "--data", data, "--plan", plan, "--loss", "xent_plus + dice_log", "--steps", "3", "--out", out, "--batch", "2"]
        let r = try CLITests.run(args)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("step 1/3") && r.stdout.contains("it/s") && r.stdout.contains("ETA"))
        #expect(r.stdout.contains("completed after 3 steps"))
        for f in ["plan.json", "weights.safetensors", "metrics.json", "MODEL.md", "report.json", "report.md", "training/state.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + f), "\(f) missing")
        }
        #expect(FileManager.default.fileExists(atPath: data + "/split.json"))
        let again = try CLITests.run(args)
        #expect(again.status == 65 && again.stderr.contains("[training_state_invalid]"))
        let resumed = try CLITests.run(args.map { $0 == "3" ? "5" : $0 } + ["--resume"])
        #expect(resumed.status == 0 && resumed.stdout.contains("resumed at step 3") && resumed.stdout.contains("completed after 5 steps"))
        #expect(resumed.stderr.contains("(1 from the cache)"))
    }
}
