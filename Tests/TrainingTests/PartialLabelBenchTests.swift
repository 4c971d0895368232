import Anatomy
import Foundation
import ImagingCore
import NIfTIIO
import Phantoms
import Testing
@testable import Training

/// `PartialLabelBench` on a tiny thigh experiment: two fully labelled subjects, one with the
/// adductors + IMAF super label, one held-out validation subject.
@Suite struct PartialLabelBenchTests {
    static func writeCase(seed: UInt64, dataset: String, into dir: String) throws {
        let catalog = Fixtures.catalog
        let p = try PhantomGenerator.generate(PhantomRequest(region: .thigh, seed: seed, matrix: [32, 32], slices: 4, rays: 64), catalog: catalog)
        let folder = "\(dir)/\(p.request.subject)-v1"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try NIfTIWriter.writeImage(p.image, to: folder + "/image.nii.gz")
        let (labels, sidecar) = PhantomDataset.named(dataset)!.apply(to: p.labels, catalog: catalog, subject: p.request.subject, visit: 1)
        try NIfTIWriter.writeLabels(labels, table: nil, to: folder + "/labels.nii.gz")
        try Data(sidecar.jsonBytes()).write(to: URL(fileURLWithPath: folder + "/case.json"))
        try JSONEncoder().encode(p.truth).write(to: URL(fileURLWithPath: folder + "/truth.json"))
    }

    @Test func configurationsParse() throws {
        #expect(try BenchConfiguration.parse("generic-plus-dlog") == BenchConfiguration(id: "generic-plus-dlog", kind: .generic, loss: "xent_plus + dice_log"))
        let custom = try BenchConfiguration.parse("specific: xent_plus + 0.1*dice_soft")
        #expect(custom == BenchConfiguration(id: "specific-xent_plus-0.1-dice_soft", kind: .specific, loss: "xent_plus + 0.1*dice_soft"))
        for bad in ["generic-nonsense", "untrained:xent", "generic:xent_pluss", "generic:"] {
            #expect(throws: ImagingError.self) { try BenchConfiguration.parse(bad) }
            do { _ = try BenchConfiguration.parse(bad) } catch { #expect(error.code == .benchConfigurationInvalid) }
        }
        // Every standard id is unique and parses to itself.
        #expect(Set(BenchConfiguration.standard.map(\.id)).count == BenchConfiguration.standard.count)
        for c in BenchConfiguration.standard { #expect(try BenchConfiguration.parse(c.id) == c) }
    }

    @Test func tinyExperimentTableMatchesJSONAndTrainingHelps() throws {
        let dir = Fixtures.temporaryDirectory("plbench")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.writeCase(seed: 11, dataset: "thigh-full", into: dir + "/train/thigh-full")
        try Self.writeCase(seed: 12, dataset: "thigh-full", into: dir + "/train/thigh-full")
        try Self.writeCase(seed: 13, dataset: "thigh-adductors-imaf", into: dir + "/train/thigh-adductors-imaf")
        try Self.writeCase(seed: 21, dataset: "thigh-full", into: dir + "/validation")
        let catalog = Fixtures.catalog
        let train = try TrainingCase.discover(in: dir + "/train", catalog: catalog)
        let validation = try TrainingCase.discover(in: dir + "/validation", catalog: catalog)
        var options = PartialLabelBench.Options(steps: 60)
        options.batch = 4
        options.learningRate = 3e-3
        options.width = 4
        options.depth = 2
        options.size = 32
        options.augment = false
        let bench = try PartialLabelBench(catalog: catalog, options: options, trainCases: train, validationCases: validation, output: dir + "/out")
        bench.threadCount = 1
        #expect(bench.isFullyLabelled("thigh-full") && !bench.isFullyLabelled("thigh-adductors-imaf"))
        let configs = [BenchConfiguration.standard[0], try BenchConfiguration.parse("generic-plus"), try BenchConfiguration.parse("specific-base")]
        var finished: [(String, Bool)] = []
        let results = try bench.run(configurations: configs, onEvent: { event in
            if case .finished(_, _, let r, let reused) = event { finished.append((r.id, reused)) }
        })
        #expect(results.map(\.id) == ["untrained", "generic-plus", "specific-base"])
        #expect(finished.map(\.1) == [false, false, false])
        // Same slices for every trained configuration; specific = one thigh classifier here, on
        // thigh-full only.
        #expect(results.map(\.slices) == [0, 240, 240])
        #expect(try bench.classifiers(for: configs[2]).map { $0.train.count } == [2])

        // Training helps: subcutaneous fat (a thick ring, the easiest class) and the mean.
        let fat = results.map { $0.validation.classDice["subcutaneous_fat"] ?? 0 }
        #expect(fat[1] > fat[0] + 0.1 && fat[2] > fat[0] + 0.1, "subcutaneous fat Dice \(fat)")
        #expect(results[1].validation.meanDice > results[0].validation.meanDice)
        #expect(results[2].validation.meanDice > results[0].validation.meanDice)

        // The table says what the JSON says.
        let doc = try JSONDecoder().decode(BenchReport.Document.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/out/results.json")))
        #expect(doc.results == results)
        let table = try String(contentsOfFile: dir + "/out/results.md", encoding: .utf8)
        let rows = table.split(separator: "\n").filter { $0.hasPrefix("| ") }.map {
            $0.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        #expect(rows.first == ["class", "untrained", "generic-plus", "specific-base"])
        var checked = 0
        for row in rows where row.count == 4 {
            let values: [String]
            if let name = Optional(row[0]), catalog.class(named: name) != nil {
                values = doc.results.map { BenchReport.cell($0.validation.classDice[name]) }
            } else if row[0] == "**mean Dice**" {
                values = doc.results.map { "**" + BenchReport.cell($0.validation.meanDice) + "**" }
            } else { continue }
            #expect(Array(row[1...]) == values, "row \(row[0])")
            checked += 1
        }
        #expect(checked >= 10)
        #expect(rows.contains { $0.first == "subcutaneous_fat" && $0[2] == String(format: "%.3f", fat[1]) })

        // A rerun reuses every stored result.
        finished = []
        let again = try bench.run(configurations: configs, onEvent: { event in
            if case .finished(_, _, let r, let reused) = event { finished.append((r.id, reused)) }
        })
        #expect(again == results && finished.map(\.1) == [true, true, true])
    }
}
