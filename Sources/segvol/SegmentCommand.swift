import Anatomy
import ArgumentParser
import Dispatch
import Foundation
import ImagingCore
import NeuralEngine
import Segmentation
import Spool
import Volumetry

/// `segvol segment`: one scan in, label map, volumes, QC picture and manifest out.
struct SegmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment",
        abstract: "Segment one scan (NIfTI file or DICOM folder) and measure its volumes.",
        discussion: """
            Writes into DIR: labels.nii.gz (catalog ids on the scan's native grid, label table \
            embedded), volumes.csv (one row per class and side), qc.png (axial slices with label \
            outlines and a legend) and manifest.json (input hashes, model version and weights \
            SHA-256, plan, timings). The region comes from --region, else from DICOM \
            BodyPartExamined or the series description. The model folder: --model, else \
            SEGVOL_MODEL_DIR, /var/lib/segvol/models/current, /usr/share/segvol/models/default, \
            or the source tree's Models/default. See docs/segmentation.md and docs/volumetry.md.
            """
    )

    @Argument(help: "A NIfTI file, or a folder of DICOM files (one series, or pick one with --series).")
    var scan: String

    @Option(name: .shortAndLong, help: "Output folder (created if needed).")
    var output: String

    @Option(help: "Body region: thigh, calf or abdomen (default: from the DICOM header).")
    var region: String?

    @Option(help: "Model folder holding plan.json and weights.safetensors.")
    var model: String?

    @Option(help: "Segment only the DICOM series with this SeriesNumber.")
    var series: Int?

    @Option(help: "Slices per network call.")
    var batchSize: Int = 8

    @Option(help: "Remove label islands smaller than this many mL (0 keeps all).")
    var minIslandMl: Double = IslandRemoval().minimumML

    @Option(help: "Most pixels of the network window, which covers each profile slice whole; a wider scan is refused (window_too_large).")
    var maxWindowPixels = WindowPolicy.defaultMaxPixels

    @Option(help: "Worker threads of the network (default: all cores).")
    var threads: Int?

    @Option(help: "Configuration folder holding labels.toml (default: SEGVOL_CONFIG_DIR, /etc/segvol, the source tree).")
    var config: String?

    func validate() throws {
        if let region, Region(rawValue: region) == nil { throw ValidationError("unknown region '\(region)'; choose thigh, calf or abdomen") }
        guard (1...256).contains(batchSize) else { throw ValidationError("--batch-size must be in 1...256") }
        guard minIslandMl >= 0, minIslandMl.isFinite else { throw ValidationError("--min-island-ml must be 0 or more") }
        guard maxWindowPixels >= 1 else { throw ValidationError("--max-window-pixels must be positive") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        ensureBLASEnvironment()
        tuneMallocForOneScan()
        EngineThreads.configure(threadCount: threads)
        do {
            try segment()
        } catch let error as ImagingError {
            report(error)
            throw ExitCode(Self.exitStatus(error))
        } catch let error as ExitCode {
            throw error
        } catch {
            note("\(error)")
            throw ExitCode(ExitStatus.cannotCreate)
        }
    }

    /// Model and catalog problems are configuration errors; an unknown region is a usage error.
    static func exitStatus(_ error: ImagingError) -> Int32 {
        switch error.code {
        case .modelNotFound, .modelInvalid, .planInvalid, .catalogInvalid, .configNotFound: ExitStatus.config
        case .regionUnknown: ExitStatus.usage
        default: ExitStatus.forError(error)
        }
    }

    func segment() throws {
        var timings: [StageTiming] = []
        var clock = DispatchTime.now().uptimeNanoseconds
        func lap(_ stage: String) {
            let now = DispatchTime.now().uptimeNanoseconds
            timings.append(StageTiming(stage: stage, seconds: Double(now - clock) / 1e9))
            clock = now
        }
        let catalog = try LabelCatalog.load(configDirectory: config)
        // Symlinks resolved once: a `models/current` switched meanwhile cannot mix two versions.
        var modelPath = try ModelDirectory.locate(explicit: model)
        if let resolved = realpath(modelPath, nil) {
            modelPath = String(cString: resolved)
            free(resolved)
        }
        let folder = try ModelFolder.open(modelPath, catalog: catalog)
        let settings = SegmentationSettings(batchSize: batchSize, islands: IslandRemoval(minimumML: minIslandMl),
                                            maxWindowPixels: maxWindowPixels)
        let segmenter = try Segmenter(model: folder, catalog: catalog, settings: settings, threadCount: threads)
        lap("load_model")

        let loaded = try InputLoader.load([scan], volumeIndex: nil)
        loaded.notes.forEach(note)
        let picked = try pick(loaded)
        let input = picked.result
        input.warnings.forEach { note("warning: \($0)") }
        lap("read")

        let (scanRegion, regionSource) = try resolveRegion(input.metadata)
        let outcome = try ScanSegmentation(segmenter: segmenter, model: folder, catalog: catalog)
            .run(input.image, region: scanRegion, directory: output, input: picked.label)
        timings += outcome.timings
        let result = outcome.result, report = outcome.report

        let manifest = SegmentManifest(
            input: try SegmentManifest.Input(path: scan, series: picked.label, scan: input),
            region: scanRegion.rawValue, regionSource: regionSource,
            model: try SegmentManifest.Model(folder: folder),
            plan: folder.plan, settings: settings, transform: result.transform, window: result.window,
            allowedIDs: result.allowedIDs, sides: report.sides,
            removedIslands: result.removed.voxels.map { .init(id: Int($0.key), voxels: $0.value, components: result.removed.components[$0.key] ?? 0) }
                .sorted { $0.id < $1.id },
            timings: timings,
            outputs: try outcome.files.map { try .init(directory: output, name: $0) })
        try manifest.write(to: output + "/manifest.json")
        // load_model and read, then the run's wall time (its output stages overlap).
        let total = timings.prefix(2).reduce(0) { $0 + $1.seconds } + outcome.seconds
        print(String(format: "%@: %@, %d classes measured, %.2f s → %@", picked.label, scanRegion.rawValue,
                     report.rows.filter { $0.voxels > 0 }.count, total, output))
    }

    /// The one series to segment.
    func pick(_ loaded: LoadResult) throws -> (label: String, result: Scan) {
        var candidates = loaded.series
        if let series { candidates = candidates.filter { $0.seriesNumber == series } }
        let converted = candidates.compactMap { s in (try? s.result.get()).map { (s.label, $0) } }
        if converted.count == 1 { return converted[0] }
        if converted.isEmpty {
            if let failure = candidates.compactMap({ s -> ImagingError? in if case .failure(let e) = s.result { return e }; return nil }).first {
                throw failure
            }
            throw ImagingError(.notFound, input: scan, reason: series.map { "no series with number \($0)" } ?? "no image series found",
                               remedy: "check the path (a NIfTI file or a folder of DICOM files)")
        }
        throw ImagingError(.unsupportedFormat, input: scan,
                           reason: "\(converted.count) series found (\(converted.map(\.0).joined(separator: "; ")))",
                           remedy: "pick one with --series N")
    }

    /// The region from the option, else from the header; and where it came from.
    func resolveRegion(_ metadata: ScanMetadata) throws(ImagingError) -> (Region, String) {
        if let region, let r = Region(rawValue: region) { return (r, "option") }
        return (try RegionDetection.region(of: metadata, input: scan), "header")
    }
}
