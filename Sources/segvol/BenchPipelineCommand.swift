import Anatomy
import ArgumentParser
import DICOMIO
import Dispatch
import Foundation
import ImagingCore
import NIfTIIO
import NeuralEngine
import Phantoms
import Resampling
import Segmentation
import Volumetry

/// `segvol bench pipeline`: seconds per stage of one scan end to end (as the worker runs it) per
/// region, the model's share of the total, then scans per hour through the real daemon.
struct BenchPipelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Time every stage of a scan end to end per region, then scans per hour through `segvol serve`.",
        discussion: """
            Phantoms (fixed seeds) are generated in memory and written as NIfTI (and, for the \
            thigh, also as a DICOM series) into a temporary folder. Each case is read, segmented \
            and measured with the worker's own code (ScanSegmentation), and its outputs written; \
            the table gives the median seconds per stage over --repeats runs and the model's \
            share. --plan-width / --plan-size time a design-size network instead of the shipped \
            model: the shipped plan's classes and normalisation with the design brief's region \
            profiles and a random-weight U-Net of that width and input size (timing only: random \
            weights segment speckle). Then --scans phantom drops go at once into a temporary site served by a child \
            `segvol serve --exit-when-idle`: wall time, scans per hour, job latency from drop to \
            done, and the daemon's RSS. See docs/operations.md, "Pipeline benchmark".
            """
    )

    @Option(help: "In-plane matrix of every phantom, e.g. 512 or 512x512.")
    var matrix: String = "512x512"

    @Option(help: "Slices of every phantom.")
    var slices: Int = 32

    @Option(help: "Repetitions per case (the median of each stage is printed).")
    var repeats: Int = 3

    @Option(help: "Phantom drops for the throughput run (0 skips it).")
    var scans: Int = 6

    @Option(help: "Model folder holding plan.json and weights.safetensors (default: as `segvol segment` finds it).")
    var model: String?

    @Option(help: "Worker threads of the network (default: all cores).")
    var threads: Int?

    @Option(help: "Time a random-weight network of this base width instead of the model (timing only; e.g. 16).")
    var planWidth: Int?

    @Option(help: "Input size of the random-weight network, e.g. 256 (with --plan-width; default: the model's).")
    var planSize: Int?

    @Flag(help: "After each case's first run (untimed), check that the fast stages equal their reference twins.")
    var checkReferences = false

    @Flag(help: "Time the reference twins of the fast stages (the former code) instead: A/B comparisons in one binary.")
    var referenceStages = false

    var parsedMatrix: [Int]? {
        let parts = matrix.lowercased().split(separator: "x").compactMap { Int($0) }
        if parts.count == 1 { return [parts[0], parts[0]] }
        return parts.count == 2 ? parts : nil
    }

    func validate() throws {
        guard let m = parsedMatrix, m.allSatisfy({ (8...2048).contains($0) }) else {
            throw ValidationError("--matrix must look like 512 or 512x512 (8...2048)")
        }
        guard (1...1000).contains(slices) else { throw ValidationError("--slices must be in 1...1000") }
        guard repeats >= 1, scans >= 0 else { throw ValidationError("--repeats must be at least 1, --scans at least 0") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let planWidth, !(1...256).contains(planWidth) { throw ValidationError("--plan-width must be in 1...256") }
        if let planSize, !(16...1024).contains(planSize) { throw ValidationError("--plan-size must be in 16...1024") }
    }

    /// One column of the table: a region read from one format.
    struct Case {
        var name: String
        var region: Region
        var path: String
        var isDICOM: Bool
    }

    func run() throws {
        ensureBLASEnvironment()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("segvol-bench-pipeline-\(getpid())").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        do {
            let catalog = try LabelCatalog.load()
            var modelPath = try ModelDirectory.locate(explicit: model)
            var modelText = "model: \(modelPath)"
            if planWidth != nil || planSize != nil {
                let shipped = try ModelFolder.open(modelPath, catalog: catalog)
                let (path, text) = try writeRandomModel(from: shipped.plan, into: work + "/random-model")
                modelPath = path
                modelText = text
            }
            let folder = try ModelFolder.open(modelPath, catalog: catalog)
            let segmenter = try Segmenter(model: folder, catalog: catalog, threadCount: threads)
            segmenter.useReferenceStages = referenceStages
            var pipeline = ScanSegmentation(segmenter: segmenter, model: folder, catalog: catalog)
            pipeline.referenceStages = referenceStages
            if referenceStages { print("stages: REFERENCE TWINS (the former code), for A/B timing") }
            print("\(modelText) (version \(folder.version)); phantoms \(parsedMatrix!.map(String.init).joined(separator: "×"))×\(slices); medians of \(repeats) runs")

            var cases: [Case] = []
            for region in Region.allCases {
                let phantom = try makePhantom(region, catalog: catalog)
                let nifti = "\(work)/\(region.rawValue).nii.gz"
                try NIfTIWriter.writeImage(phantom.image, to: nifti, description: "segvol bench pipeline")
                if region == .thigh {
                    var options = DICOMSeriesWriter.Options()
                    options.seriesNumber = phantom.metadata.seriesNumber ?? 1
                    try DICOMSeriesWriter.write(phantom.image, metadata: phantom.metadata, to: "\(work)/thigh-dicom", options: options)
                    cases.append(Case(name: "thigh DICOM", region: region, path: "\(work)/thigh-dicom", isDICOM: true))
                }
                cases.append(Case(name: "\(region.rawValue) NIfTI", region: region, path: nifti, isDICOM: false))
            }
            sync()

            var columns: [[String: Double]] = []
            var order: [String] = []
            for c in cases {
                var runs: [[StageTiming]] = []
                for r in 0..<repeats {
                    runs.append(try timeOne(c, pipeline: pipeline, output: "\(work)/out-\(c.name.replacingOccurrences(of: " ", with: "-"))-\(r)"))
                    if r == 0 && checkReferences { print(try checkAgainstReferences(c, pipeline: pipeline, catalog: catalog)) }
                }
                for t in runs[0] where !order.contains(t.stage) && t.stage != "total" { order.append(t.stage) }
                columns.append(Self.medians(runs))
            }
            printTable(cases: cases, columns: columns, order: order)

            if scans > 0 {
                print("")
                let throughput = DaemonThroughput(executable: Self.executablePath(), modelPath: modelPath,
                                                  matrix: parsedMatrix!, slices: slices, scans: scans, work: work + "/site")
                let result = try throughput.run(catalog: catalog)
                print(result.text)
            }
        } catch let error as ImagingError {
            report(error)
            throw ExitCode(SegmentCommand.exitStatus(error))
        }
    }

    /// A model folder for `--plan-width` / `--plan-size`: the shipped plan's outputs, region
    /// classes and normalisation, the design brief's region profiles (`ResampleProfile.thigh`,
    /// `.calf`, `.abdomen`), the given width and input size, and a U-Net with seeded random
    /// weights. Returns its path and the line the benchmark prints about it.
    func writeRandomModel(from shipped: ModelPlan, into dir: String) throws -> (String, String) {
        var plan = shipped
        plan.architecture.baseWidth = planWidth ?? shipped.architecture.baseWidth
        if let planSize { plan.inputSize = [planSize, planSize] }
        let design: [Region: ResampleProfile] = [.thigh: .thigh, .calf: .calf, .abdomen: .abdomen]
        for (name, var region) in plan.regions {
            if let r = Region(rawValue: name), let profile = design[r] { region.profile = profile }
            plan.regions[name] = region
        }
        let catalog = try LabelCatalog.load()
        try plan.validate(against: catalog, source: "--plan-width/--plan-size")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let a = plan.architecture
        let net = UNet(config: UNetConfig(inChannels: a.inChannels, classes: plan.outputs.count, baseWidth: a.baseWidth, depth: a.depth), seed: 16)
        try net.saveCheckpoint(to: dir + "/" + ModelFolder.weightsFile)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(plan).write(to: URL(fileURLWithPath: dir + "/" + ModelFolder.planFile))
        let version = "random-w\(a.baseWidth)-\(plan.inputSize[0])"
        try Data("{\"version\": \"\(version)\"}\n".utf8).write(to: URL(fileURLWithPath: dir + "/" + ModelFolder.metricsFile))
        func mm(_ v: Double) -> String { String(format: "%g", v) }
        let profiles = Region.allCases.compactMap { r -> String? in
            guard let p = plan.regions[r.rawValue]?.profile else { return nil }
            return "\(r.rawValue) \(mm(p.inPlaneSpacing)) mm" + (p.sliceSpacing.map { " × \(mm($0)) mm" } ?? "")
        }
        let text = "model: RANDOM WEIGHTS, TIMING ONLY: U-Net width \(a.baseWidth), depth \(a.depth), input \(plan.inputSize[0])×\(plan.inputSize[1]), "
            + "\(plan.outputs.count) outputs, design profiles (\(profiles.joined(separator: ", "))); segmentations are speckle, island removal at its worst"
        return (dir, text)
    }

    /// `--check-references`: runs the case's segmentation again stage by stage and compares
    /// each fast stage with its reference twin on the same input (native argmax, island
    /// removal, volumes, QC picture), and the result with the timed run's labels. Throws on
    /// any difference.
    func checkAgainstReferences(_ c: Case, pipeline: ScanSegmentation, catalog: LabelCatalog) throws -> String {
        let image: ImageVolume
        if c.isDICOM {
            image = try DICOMReader.read(paths: [c.path]).series[0].result.get().image
        } else {
            image = try NIfTIReader.readImage(path: c.path).image
        }
        let seg = pipeline.segmenter
        let channels = try seg.allowedChannels(for: c.region)
        let ids = channels.map { Int32(seg.plan.outputs[$0].id) }
        let prepared = try Preprocessor.prepare(image, plan: seg.plan, region: c.region,
                                                window: .covering(maxPixels: seg.settings.maxWindowPixels), input: c.name)
        let probs = SliceInference.run(prepared, classifier: seg.classifier, allowedChannels: channels, channelIDs: ids,
                                       batchSize: seg.settings.batchSize)
        var failures: [String] = []
        if prepared.transform.toProfile(image).data.map(\.bitPattern)
            != prepared.transform.referenceToProfile(image).data.map(\.bitPattern) {
            failures.append("resampling to the profile")
        }
        let fast = NativeArgmax.labels(probs, window: prepared.window, transform: prepared.transform)
        if fast.data != NativeArgmax.fusedReference(probs, window: prepared.window, transform: prepared.transform).data {
            failures.append("to_native")
        }
        var cleaned = fast, reference = fast
        let removed = seg.settings.islands.apply(to: &cleaned), referenceRemoved = seg.settings.islands.referenceApply(to: &reference)
        if cleaned.data != reference.data || removed != referenceRemoved {
            failures.append("island removal")
        }
        if cleaned.data != (try seg.segment(image, region: c.region)).labels.data { failures.append("segment (labels differ from the pipeline's)") }
        let report = VolumeMeasurer.measure(cleaned, catalog: catalog, region: c.region)
        if report != VolumeMeasurer.referenceMeasure(cleaned, catalog: catalog, region: c.region) { failures.append("volumes") }
        // labels.nii.gz's table, built beside the volumes from the labels alone, names the classes
        // the volume rows name (the region's and any other present), as the sequential code did.
        let rowIDs = Set(catalog.classes(in: c.region).map(\.id) + report.rows.map(\.id))
        if ScanSegmentation.labelTable(cleaned, catalog: catalog, region: c.region).entries.map({ Int($0.id) })
            != catalog.classes.filter({ rowIDs.contains($0.id) }).map(\.id) {
            failures.append("label table")
        }
        let montage = QCMontage()
        if montage.render(image: image, labels: cleaned, catalog: catalog, title: c.name)
            != montage.referenceRender(image: image, labels: cleaned, catalog: catalog, title: c.name) {
            failures.append("QC picture")
        }
        guard failures.isEmpty else {
            throw ImagingError(.unreadable, input: c.name, reason: "fast stages differ from their reference twins: \(failures.joined(separator: ", "))",
                               remedy: "report this as a bug; the reference twins are the specification")
        }
        return "reference check \(c.name): label table as the volume rows; resampling to the profile, to_native, island removal, volumes, QC picture identical to their reference twins"
    }

    /// A phantom of `region` at the benchmark's size (fixed seed).
    func makePhantom(_ region: Region, catalog: LabelCatalog, seed: UInt64 = 11) throws -> Phantom {
        let request = PhantomRequest(region: region, seed: seed, matrix: parsedMatrix, slices: slices, oblique: false, rays: 64)
        return try PhantomGenerator.generate(request, catalog: catalog)
    }

    /// One scan end to end: read/convert, then the worker's segmentation and outputs.
    func timeOne(_ c: Case, pipeline: ScanSegmentation, output: String) throws -> [StageTiming] {
        let start = DispatchTime.now().uptimeNanoseconds
        let image: ImageVolume
        if c.isDICOM {
            let read = try DICOMReader.read(paths: [c.path])
            guard let first = read.series.first else {
                throw ImagingError(.noDICOM, input: c.path, reason: "no DICOM series found", remedy: "report this: the benchmark wrote one")
            }
            image = try first.result.get().image
        } else {
            image = try NIfTIReader.readImage(path: c.path).image
        }
        let read = StageTiming(stage: "read", seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        let outcome = try pipeline.run(image, region: c.region, directory: output)
        let total = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        try? FileManager.default.removeItem(atPath: output)
        return [read] + outcome.timings + [StageTiming(stage: "outputs", seconds: outcome.outputSeconds),
                                           StageTiming(stage: "total", seconds: total)]
    }

    /// The median of each stage over the runs; `total` is the median of the runs' wall times
    /// (read to last output written), less than the sum of the stages where they overlap.
    static func medians(_ runs: [[StageTiming]]) -> [String: Double] {
        func median(_ v: [Double]) -> Double { let s = v.sorted(); return s.isEmpty ? 0 : s[s.count / 2] }
        var out: [String: Double] = [:]
        for stage in Set(runs.flatMap { $0.map(\.stage) }) {
            out[stage] = median(runs.map { run in run.filter { $0.stage == stage }.reduce(0) { $0 + $1.seconds } })
        }
        return out
    }

    func printTable(cases: [Case], columns: [[String: Double]], order: [String]) {
        func cell(_ s: String) -> String { s.padding(toLength: 15, withPad: " ", startingAt: 0) }
        print("")
        print("stage (seconds)".padding(toLength: 16, withPad: " ", startingAt: 0) + cases.map { cell($0.name) }.joined())
        for stage in order + ["total"] {
            print(stage.padding(toLength: 16, withPad: " ", startingAt: 0)
                  + columns.map { cell(String(format: "%.3f", $0[stage] ?? 0)) }.joined())
        }
        print("model share".padding(toLength: 16, withPad: " ", startingAt: 0) + columns.map { col in
            cell(String(format: "%.1f %%", 100 * (col["inference"] ?? 0) / max(col["total"] ?? 0, 1e-9)))
        }.joined())
        print("\nmodel share = inference / total; goal: everything else (read, resampling, post-processing,")
        print("volumes, writing) under 20 % of the total, i.e. a model share above 80 %. total is wall time:")
        print("write_labels and the QC tiles (in write_qc) run beside volumes and write_csv, so the stages sum to more;")
        print("outputs is the wall time from the labels to the last output written (volumes and the three files).")
    }

    /// This executable (the daemon is started from the same binary).
    static func executablePath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
