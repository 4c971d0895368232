#if canImport(Glibc)
import Glibc
#endif
import Anatomy
import ArgumentParser
import Dispatch
import Foundation
import ImagingCore
import NIfTIIO
import NeuralEngine
import Phantoms
import Training

/// Set by SIGINT/SIGTERM: the current training step finishes, its state is kept, the bench stops.
nonisolated(unsafe) private var benchStopRequested: sig_atomic_t = 0

/// `segvol bench partial-labels`: Wong et al.'s Table I design on phantom datasets
/// (docs/partial-labels.md).
struct BenchPartialLabelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partial-labels",
        abstract: "Specific vs generic classifiers and every partial-label loss on phantom datasets (Dice table).",
        discussion: """
            Generates the phantom datasets into OUT/data (--subjects subjects per training \
            dataset; --validation-subjects held-out, fully annotated subjects per region), then \
            trains every configuration with the same seed, batch and number of steps and scores \
            it on the same validation subjects (presence-aware Dice and volume error on the \
            native grid). Writes OUT/results.md (Dice per class, rows classes, columns \
            configurations) and OUT/results.json after every configuration. A rerun reuses \
            finished configurations (OUT/runs/<id>/result.json) and resumes an interrupted one. \
            Configurations: \(BenchConfiguration.standard.map(\.id).joined(separator: ", ")), or \
            KIND:LOSS with KIND generic, specific or thigh. See docs/partial-labels.md.
            """
    )

    @Option(name: .shortAndLong, help: "Output folder (data, cache, runs, results.md, results.json).") var out: String
    @Option(help: "Optimiser steps per configuration (split between the specific classifiers).") var steps: Int = 300
    @Option(help: "Slices per batch.") var batch: Int = 9
    @Option(help: "Adam learning rate.") var lr: Float = 1e-3
    @Option(help: "Seed of weights, batches and augmentation (every configuration the same).") var seed: UInt64 = 1
    @Option(help: "U-Net base width.") var width: Int = 8
    @Option(help: "U-Net depth (levels).") var depth: Int = 4
    @Option(help: "Network input size in pixels (square); also the phantoms' in-plane matrix.") var size: Int = 128
    @Option(help: "Subjects per training dataset.") var subjects: Int = 4
    @Option(help: "Held-out, fully annotated validation subjects per region.") var validationSubjects: Int = 2
    @Option(help: "Slices per phantom.") var slices: Int = 12
    @Option(help: "Regions, comma-separated.") var regions: String = "thigh,calf,abdomen"
    @Option(help: "Configurations to run, comma-separated (default: all).") var configs: String?
    @Option(help: "Do not start a configuration that would end after this many minutes.") var minutesBudget: Double?
    @Flag(help: "Turn off augmentation.") var noAugment = false
    @Option(help: "Engine threads (default: all cores).") var threads: Int?
    @Option(help: "Configuration folder holding labels.toml.") var config: String?

    var parsedRegions: [Region]? {
        let rs = regions.split(separator: ",").map { Region(rawValue: $0.trimmingCharacters(in: .whitespaces)) }
        return rs.contains(nil) || rs.isEmpty ? nil : Region.allCases.filter { r in rs.contains(r) }
    }

    func validate() throws {
        guard steps >= 1, batch >= 1 else { throw ValidationError("--steps and --batch must be at least 1") }
        guard width >= 1, (1...6).contains(depth) else { throw ValidationError("--width must be ≥ 1 and --depth in 1...6") }
        guard size >= 16, size % (1 << (depth - 1)) == 0 else { throw ValidationError("--size must be ≥ 16 and divisible by 2^(depth-1)") }
        guard subjects >= 1, validationSubjects >= 1, (1...200).contains(slices) else {
            throw ValidationError("--subjects and --validation-subjects must be at least 1, --slices in 1...200")
        }
        guard parsedRegions != nil else { throw ValidationError("--regions lists thigh, calf, abdomen") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        ensureBLASEnvironment()
        EngineThreads.configure(threadCount: threads)
        do {
            try bench()
        } catch let error as ImagingError {
            report(error)
            throw ExitCode(error.code == .benchConfigurationInvalid ? ExitStatus.usage : ExitStatus.forError(error))
        }
    }

    private func bench() throws {
        let catalog = try LabelCatalog.load(configDirectory: config)
        let chosen = try (configs?.split(separator: ",").map { try BenchConfiguration.parse(String($0)) }) ?? BenchConfiguration.standard
        let rs = parsedRegions!
        let start = DispatchTime.now().uptimeNanoseconds
        let (train, validation) = try writeData(regions: rs, catalog: catalog)
        note(String(format: "data: %d training cases (%d datasets), %d validation cases, ready in %.1f s", train.count,
                    Set(train.map(\.labels.dataset)).count, validation.count, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
        var options = PartialLabelBench.Options(steps: steps)
        options.batch = batch
        options.learningRate = lr
        options.seed = seed
        options.augment = !noAugment
        options.width = width
        options.depth = depth
        options.size = size
        let bench = try PartialLabelBench(catalog: catalog, options: options, trainCases: train, validationCases: validation, output: out)
        signal(SIGINT) { _ in benchStopRequested = 1 }
        signal(SIGTERM) { _ in benchStopRequested = 1 }
        var lastLine = 0.0
        let results = try bench.run(configurations: chosen, budgetSeconds: minutesBudget.map { $0 * 60 },
                                    shouldStop: { benchStopRequested != 0 }) { event in
            switch event {
            case .started(let i, let n, let c):
                print("[\(i + 1)/\(n)] \(c.id) (\(c.loss.isEmpty ? "no training" : c.loss)) ...")
            case .step(let c, let classifier, let p):
                let now = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
                guard now - lastLine >= 30 else { return }
                lastLine = now
                print(String(format: "    %@/%@ step %d/%d  loss %.4f (mean %.4f)  %.2f it/s", c, classifier, p.step, p.totalSteps,
                             p.loss, p.meanLoss, p.stepsPerSecond))
            case .finished(let i, let n, let r, let reused):
                let vol = r.validation.medianAbsVolumeErrorPercent.map { String(format: ", median |volume error| %.1f %%", $0) } ?? ""
                print(String(format: "[%d/%d] %@: mean Dice %.4f%@, %d steps, %.1f min%@", i + 1, n, r.id, r.validation.meanDice, vol,
                             r.steps, r.seconds / 60, reused ? " (stored result)" : ""))
            case .budgetReached(let remaining):
                print("time budget reached; not started: \(remaining.joined(separator: ", ")) (rerun to continue)")
            }
            fflush(nil)
        }
        if benchStopRequested != 0 {
            print("interrupted; rerun the same command to continue")
            throw ExitCode(TrainCommand.interruptedStatus)
        }
        print("\(results.count) configurations; table in \(out)/results.md")
    }

    /// Writes (or finds) the phantom cases: training datasets of the regions under data/train,
    /// fully annotated validation subjects under data/validation (seeds disjoint from training).
    private func writeData(regions rs: [Region], catalog: LabelCatalog) throws -> ([TrainingCase], [TrainingCase]) {
        let datasets = PhantomDataset.all.filter { rs.contains($0.region) }
        for (d, dataset) in datasets.enumerated() {
            for j in 0..<subjects {
                try writeCase(region: dataset.region, seed: UInt64(1000 + 100 * d + j), dataset: dataset, catalog: catalog,
                              folder: "\(out)/data/train/\(dataset.name)")
            }
        }
        for (r, region) in rs.enumerated() {
            for j in 0..<validationSubjects {
                try writeCase(region: region, seed: UInt64(9000 + 100 * r + j), dataset: .full(region), catalog: catalog,
                              folder: "\(out)/data/validation/\(region.rawValue)")
            }
        }
        // Only this run's datasets and subject counts (an earlier run may have written more).
        let train = try TrainingCase.discover(in: out + "/data/train", catalog: catalog).filter { c in
            datasets.contains { $0.name == c.labels.dataset } && seedIndex(c) < subjects
        }
        let validation = try TrainingCase.discover(in: out + "/data/validation", catalog: catalog).filter { c in
            rs.contains(c.labels.region) && seedIndex(c) < validationSubjects
        }
        return (train, validation)
    }

    /// The subject's position within its dataset (seed mod 100).
    private func seedIndex(_ c: TrainingCase) -> Int {
        Int(c.labels.subject.split(separator: "-").last.flatMap { Int($0) } ?? 0) % 100
    }

    private func writeCase(region: Region, seed: UInt64, dataset: PhantomDataset, catalog: LabelCatalog, folder parent: String) throws {
        let request = PhantomRequest(region: region, seed: seed, matrix: [size, size], slices: slices)
        let folder = "\(parent)/\(request.subject)-v1"
        guard !FileManager.default.fileExists(atPath: folder + "/truth.json") else { return }
        let phantom = try PhantomGenerator.generate(request, catalog: catalog)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try NIfTIWriter.writeImage(phantom.image, to: folder + "/image.nii.gz", description: "segvol phantom")
        let (labels, sidecar) = dataset.apply(to: phantom.labels, catalog: catalog, subject: request.subject, visit: 1)
        try NIfTIWriter.writeLabels(labels, table: nil, to: folder + "/labels.nii.gz", description: "segvol phantom \(dataset.name)")
        try DurableFile.write(try sidecar.jsonBytes(), to: folder + "/case.json")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try DurableFile.write(Array(try encoder.encode(phantom.truth)), to: folder + "/truth.json")
    }
}
