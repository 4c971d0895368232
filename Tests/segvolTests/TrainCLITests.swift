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

    @Test func shiftOutsideItsRangeIsAUsageError() throws {
        let r = try CLITests.run(["train", "--data", dir, "--plan", try writePlan(), "--loss", "xent_plus",
                                  "--steps", "1", "--out", dir + "/m", "--max-shift", "0.7"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("--max-shift must be in 0...0.5"))
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

    /// `segvol validate` on the model a short run wrote: the network's scores, the ground truth's
    /// ceiling (far above a 3-step network), the JSON file, and the refusals.
    @Test func validateScoresAModelAndTheGroundTruthCeiling() throws {
        let data = dir + "/data"
        let g = try CLITests.run(["phantom", "--region", "thigh", "--seed", "3", "--matrix", "48x48", "--slices", "3", "-o", data])
        #expect(g.status == 0, "\(g.stderr)")
        let out = dir + "/model"
        let t = try CLITests.run(["train", "--data", data, "--plan", try writePlan(), "--loss", "xent_plus + dice_log", "--steps", "3",
                                  "--out", out, "--batch", "2"])
        #expect(t.status == 0, "\(t.stderr)")
        // One subject: it trains (a single-subject dataset never validates).
        let net = try CLITests.run(["validate", "--model", out, "--data", data, "--cases", "train", "--json", dir + "/net.json"])
        #expect(net.status == 0, "\(net.stderr)")
        #expect(net.stdout.contains("model \(out), 1 train cases") && net.stdout.contains("vastus_lateralis") && net.stdout.contains("mean Dice"))
        let truth = try CLITests.run(["validate", "--model", out, "--data", data, "--cases", "all", "--ground-truth", "trilinear",
                                      "--json", dir + "/truth.json"])
        #expect(truth.status == 0, "\(truth.stderr)")
        #expect(truth.stdout.contains("ground truth through the profiles") && truth.stdout.contains("(trilinear back)"))
        func meanDice(_ file: String) throws -> Double {
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as! [String: Any]
            return object["meanDice"] as! Double
        }
        let ceiling = try meanDice(dir + "/truth.json"), model = try meanDice(dir + "/net.json")
        #expect(ceiling > 0.8 && ceiling <= 1 && ceiling > model + 0.2, "ceiling \(ceiling), model \(model)")
        let none = try CLITests.run(["validate", "--model", out, "--data", data])
        #expect(none.status == 65 && none.stderr.contains("no case on the validation side"))
        let noSplit = try CLITests.run(["validate", "--model", out, "--data", data, "--split", dir + "/missing.json"])
        #expect(noSplit.status == 65 && noSplit.stderr.contains("[split_invalid]"))
        let noModel = try CLITests.run(["validate", "--model", dir + "/nothing", "--data", data])
        #expect(noModel.status == 65 && noModel.stderr.contains("[model_not_found]"))
    }

    /// A bilateral thigh is twice as wide as the plan's 48-pixel input: `segvol validate` scores
    /// the whole profile slice, as inference does. A centre crop to the input size (what it did
    /// before) loses the lateral vastus of both thighs: the ground truth's own Dice for it fell to 0.
    @Test func validateScoresWideCasesWhole() throws {
        let data = dir + "/data"
        let g = try CLITests.run(["phantom", "--region", "thigh", "--seed", "3", "--bilateral", "--matrix", "96x48", "--slices", "3",
                                  "-o", data])
        #expect(g.status == 0, "\(g.stderr)")
        let split = #"{"format":"segvol-split","version":1,"validationFraction":0.2,"subjects":{"phantom-thigh-3":"validation"}}"#
        try Data(split.utf8).write(to: URL(fileURLWithPath: data + "/split.json"))
        let model = try TinyThighModel.writeModel(to: dir + "/model")
        let truth = try CLITests.run(["validate", "--model", model, "--data", data, "--cases", "all", "--ground-truth", "nearest",
                                      "--json", dir + "/truth.json"])
        #expect(truth.status == 0, "\(truth.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/truth.json"))) as! [String: Any]
        let dice = object["classDice"] as! [String: Double]
        #expect(dice["vastus_lateralis"]! > 0.7 && dice["bone"]! > 0.5, "\(dice)")
    }
}
