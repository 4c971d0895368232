import Anatomy
import ArgumentParser
import Dispatch
import Foundation
import ImagingCore
import NIfTIIO
import NeuralEngine
import Segmentation
import Training

/// `segvol validate`: scores a model folder (or the ground truth through its plan's profiles)
/// on annotated cases with their frozen split, without training (docs/training.md).
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Score a model on annotated cases (Dice, volume errors), or the resolution ceiling of its plan.",
        discussion: """
            DIR holds case folders as `segvol train` reads them, with the frozen split.json \
            (read, never written; subjects it does not know are left out). The scores are a \
            training run's validation scores (presence-aware Dice on the native grid, median \
            absolute volume error against truth.json), so they compare with the model's \
            metrics.json. --cases train scores the training subjects (train vs validation tells \
            over- from under-fitting). --ground-truth sends the label maps themselves through \
            the plan's profile grid and input window and back (nearest: the validation path; \
            trilinear: one-hot labels through the Segmenter's interpolation and argmax): the \
            best any network on this plan can score. Exit 0; 65 for bad data, split or \
            model (a missing model folder included); 73 when --json cannot be written. See \
            docs/training.md.
            """
    )

    @Option(help: "Model folder (plan.json, weights.safetensors).") var model: String
    @Option(help: "Folder of case folders.") var data: String
    @Option(help: "The frozen split file (default: DATA/split.json).") var split: String?
    @Option(help: "Which side of the split to score: validation, train or all.") var cases: EvaluationSide = .validation
    @Option(help: "Score the ground truth through the plan's profiles instead of the network: nearest or trilinear.")
    var groundTruth: GroundTruthReturn?
    @Option(help: "Also write the full result (per class and per case) as JSON to this file.") var json: String?
    @Option(help: "Slice cache folder (default: DATA/.segvol-cache).") var cache: String?
    @Flag(help: "Do not read or write the slice cache.") var noCache = false
    @Option(help: "Engine threads (default: all cores).") var threads: Int?
    @Option(help: "Configuration folder holding labels.toml.") var config: String?

    func run() throws {
        ensureBLASEnvironment()
        EngineThreads.configure(threadCount: threads)
        do { try evaluate() } catch {
            report(error)
            throw ExitCode(ExitStatus.forError(error))
        }
    }

    private func evaluate() throws(ImagingError) {
        let catalog = try LabelCatalog.load(configDirectory: config)
        let folder = try ModelFolder.open(model, catalog: catalog)
        let start = DispatchTime.now().uptimeNanoseconds
        func seconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        let found = try TrainingCase.discover(in: data, catalog: catalog)
        let (loaded, skipped) = try Evaluation.loadCases(found, plan: folder.plan, catalog: catalog, splitPath: split ?? data + "/split.json",
                                                         cacheDirectory: noCache ? nil : (cache ?? data + "/.segvol-cache"), side: cases)
        for s in skipped { note("skipped \(s)") }
        guard !loaded.isEmpty else {
            throw ImagingError(.trainingDataInvalid, input: data, reason: "no case on the \(cases.rawValue) side of the split",
                               remedy: "check --cases and the split file")
        }
        note(String(format: "data: %d %@ cases in %.1f s", loaded.count, cases.rawValue, seconds()))
        let result: ValidationResult
        let what: String
        if let groundTruth {
            result = Evaluation.evaluateGroundTruth(cases: loaded, plan: folder.plan, back: groundTruth)
            what = "ground truth through the profiles of \(model) (\(groundTruth.rawValue) back)"
        } else {
            let net = try folder.loadNetwork(threadCount: threads)
            result = Evaluation.evaluate(net: net, cases: loaded, plan: folder.plan)
            what = "model \(model)"
        }
        note(String(format: "scored in %.1f s", seconds()))
        print(Self.table(result, title: "\(what), \(loaded.count) \(cases.rawValue) cases"))
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            do { try DurableFile.write(Array(try encoder.encode(result)), to: json) } catch let e as ImagingError { throw e } catch {
                throw ImagingError(.writeFailed, input: json, reason: "\(error)", remedy: "check the folder's permissions")
            }
        }
    }

    /// Per class: cases scored, mean Dice, median |volume error|; then the two summary numbers.
    static func table(_ r: ValidationResult, title: String) -> String {
        var counts: [String: Int] = [:]
        for c in r.cases { for name in c.dice.keys { counts[name, default: 0] += 1 } }
        func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, n - s.count))
            return left ? fill + s : s + fill
        }
        var lines = [title, pad("class", 28) + pad("cases", 6, left: true) + pad("Dice", 8, left: true) + pad("|vol err| %", 13, left: true)]
        let names = Set(r.classDice.keys).union(r.classVolumeErrorPercent.keys).sorted()
        for name in names {
            let dice = r.classDice[name].map { String(format: "%.3f", $0) } ?? "-"
            let vol = r.classVolumeErrorPercent[name].map { String(format: "%.1f", $0) } ?? "-"
            lines.append(pad(name, 28) + pad(String(counts[name] ?? 0), 6, left: true) + pad(dice, 8, left: true) + pad(vol, 13, left: true))
        }
        let vol = r.medianAbsVolumeErrorPercent.map { String(format: "%.1f %%", $0) } ?? "- (no truth.json)"
        lines.append(String(format: "mean Dice %.4f over %d classes; median |volume error| ", r.meanDice, r.classDice.count) + vol)
        return lines.joined(separator: "\n")
    }
}

extension EvaluationSide: ExpressibleByArgument {}
extension GroundTruthReturn: ExpressibleByArgument {}
