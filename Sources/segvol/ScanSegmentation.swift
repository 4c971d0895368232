import Anatomy
import Dispatch
import Foundation
import ImagingCore
import NIfTIIO
import Segmentation
import Volumetry

/// Segments one scan and writes `labels.nii.gz`, `volumes.csv` and `qc.png` into a folder: the
/// part of `segvol segment` the daemon's worker stage can call as it is (docs/segmentation.md).
struct ScanSegmentation {
    let segmenter: Segmenter
    let model: ModelFolder
    let catalog: LabelCatalog
    /// Volumes and the QC picture through their reference twins (`referenceMeasure`,
    /// `referenceRender`, compact PNG): `segvol bench pipeline --reference-stages` only.
    var referenceStages = false

    /// What one run produced.
    struct Outcome {
        var result: SegmentationResult
        var report: VolumeReport
        /// File names written, relative to the folder.
        var files: [String]
        /// The segmenter's stages, then volumes, write_labels, write_csv, write_qc. The label
        /// file is written, and the QC tiles rendered, concurrently with the volumes, so those
        /// stages overlap in time.
        var timings: [StageTiming]
        /// Wall-clock seconds of the whole run (segmentation and outputs); less than the sum
        /// of `timings` by the overlap.
        var seconds: Double
        /// Wall-clock seconds from the labels (the end of post-processing) to the last output
        /// written: what the overlapped output stages cost together.
        var outputSeconds: Double
    }

    /// gzip level of `labels.nii.gz`: libdeflate's level 1. Label maps are long runs of few
    /// values, so the file stays small (a trained model's 512 × 512 × 24 thigh: 0.29 MB at
    /// level 1 against 0.17 MB at 6), and random-weight speckle, the worst case, compresses
    /// about 3× faster than at level 6.
    static let labelCompressionLevel: Int32 = 1

    /// Segments `image` as `region` and writes the outputs into `directory` (created if needed);
    /// `input` names the scan in a refusal.
    ///
    /// The outputs need only the labels: `labels.nii.gz` (its label table from the region's
    /// classes and the ids present) is compressed and written on a second thread, and the QC
    /// montage's tiles are rendered on a third, while this one measures the volumes, hands
    /// `volumes.csv` to a fourth (its fsync overlaps the rest), then puts the tiles on the page
    /// with the legend (whose entries need the volumes) and writes `qc.png`. Each stage is
    /// timed on its own thread (`write_qc`: tiles plus page, encoding and writing). Every file
    /// is still written durably on its own (temporary name, fsync, rename, directory fsync).
    /// With `referenceStages` everything runs one after the other as before.
    func run(_ image: ImageVolume, region: Region, directory: String, input: String = "the scan") throws -> Outcome {
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try segmenter.segment(image, region: region, input: input)
        var timings = result.timings
        let outputsStart = DispatchTime.now().uptimeNanoseconds
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let labelsPath = directory + "/labels.nii.gz", description = "segvol \(segvolVersion) \(region.rawValue)"
        var options = NIfTIWriteOptions()
        options.compressionLevel = Self.labelCompressionLevel
        let catalog = catalog
        let labels = result.labels
        // The label table (a pass over the labels) is built on the writer's thread.
        let writeLabels: @Sendable () throws -> Void = { [options] in
            try NIfTIWriter.writeLabels(labels, table: Self.labelTable(labels, catalog: catalog, region: region), to: labelsPath,
                                        options: options, description: description)
        }
        let labelWriter = BackgroundStep()
        let group = DispatchGroup(), tilesGroup = DispatchGroup()
        let tiles = TileRenderer(image: image, labels: result.labels, catalog: catalog)
        if !referenceStages {
            DispatchQueue.global(qos: .userInitiated).async(group: group) { labelWriter.run(writeLabels) }
            DispatchQueue.global(qos: .userInitiated).async(group: tilesGroup) { tiles.run() }
        }
        let report: VolumeReport
        var own: [String: Double] = [:]
        let csv = BackgroundStep()
        do {
            var clock = DispatchTime.now().uptimeNanoseconds
            func lap(_ stage: String) {
                let now = DispatchTime.now().uptimeNanoseconds
                own[stage] = Double(now - clock) / 1e9
                clock = now
            }
            report = referenceStages
                ? VolumeMeasurer.referenceMeasure(result.labels, catalog: catalog, region: region)
                : VolumeMeasurer.measure(result.labels, catalog: catalog, region: region)
            lap("volumes")
            let csvPath = directory + "/volumes.csv"
            if referenceStages {
                labelWriter.run(writeLabels)
                clock = DispatchTime.now().uptimeNanoseconds
                try VolumesCSV.write(report, to: csvPath)
                lap("write_csv")
            } else {
                DispatchQueue.global(qos: .userInitiated).async(group: group) { [report] in csv.run { try VolumesCSV.write(report, to: csvPath) } }
            }
            var perClass: [Int: Double] = [:]
            for row in report.rows { perClass[row.id, default: 0] += row.volumeML }
            let title = "segvol \(region.rawValue) model \(model.version)"
            if referenceStages {
                let picture = QCMontage().referenceRender(image: image, labels: result.labels, catalog: catalog, volumesML: perClass, title: title)
                try PNGWriter.write(picture, to: directory + "/qc.png", fast: false)
            } else {
                tilesGroup.wait()
                clock = DispatchTime.now().uptimeNanoseconds
                let picture = QCMontage().compose(tiles.tiles!, catalog: catalog, volumesML: perClass, title: title)
                try PNGWriter.write(picture, to: directory + "/qc.png", fast: true)
            }
            lap("write_qc")
        } catch {
            group.wait()  // the label and CSV writers and the tile renderer never outlive the run
            tilesGroup.wait()
            throw error
        }
        group.wait()
        try labelWriter.outcome.get()
        try csv.outcome.get()
        timings.append(StageTiming(stage: "volumes", seconds: own["volumes"]!))
        timings.append(StageTiming(stage: "write_labels", seconds: labelWriter.seconds))
        timings.append(StageTiming(stage: "write_csv", seconds: own["write_csv"] ?? csv.seconds))
        // write_qc: the tiles (rendered beside the volumes) and the page, encoding and writing.
        timings.append(StageTiming(stage: "write_qc", seconds: own["write_qc"]! + tiles.seconds))
        let end = DispatchTime.now().uptimeNanoseconds
        return Outcome(result: result, report: report, files: ["labels.nii.gz", "volumes.csv", "qc.png"], timings: timings,
                       seconds: Double(end - start) / 1e9, outputSeconds: Double(end - outputsStart) / 1e9)
    }

    /// The label table embedded in labels.nii.gz: the catalog's classes of the region and any
    /// other catalog class present in `labels` (the classes `VolumeMeasurer`'s rows name), in
    /// catalog order.
    static func labelTable(_ labels: LabelVolume, catalog: LabelCatalog, region: Region) -> LabelTable {
        var classes = Set(catalog.classes(in: region).map(\.id))
        let maxID = catalog.classes.map(\.id).max() ?? 0
        let seen = labels.idsPresent(upTo: maxID)
        for id in seen.indices where seen[id] { classes.insert(id) }
        return LabelTable(entries: catalog.classes.filter { classes.contains($0.id) }
            .map { LabelEntry(id: Int32($0.id), name: $0.name, color: $0.color) })
    }
}

/// Runs one throwing step (on whichever thread calls `run`) and keeps its outcome and seconds;
/// read them only after the run (the dispatch group's wait orders the accesses).
private final class BackgroundStep: @unchecked Sendable {
    private(set) var outcome: Result<Void, any Error> = .success(())
    private(set) var seconds = 0.0

    func run(_ body: () throws -> Void) {
        let start = DispatchTime.now().uptimeNanoseconds
        outcome = Result { try body() }
        seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}

/// Renders the QC montage's tiles (`QCMontage.renderTiles`, which needs no volumes) on whichever
/// thread runs `run`, and keeps them and the seconds; read them only after the run (the dispatch
/// group's wait orders the accesses).
private final class TileRenderer: @unchecked Sendable {
    let image: ImageVolume
    let labels: LabelVolume
    let catalog: LabelCatalog
    private(set) var tiles: QCMontage.Tiles?
    private(set) var seconds = 0.0

    init(image: ImageVolume, labels: LabelVolume, catalog: LabelCatalog) {
        self.image = image
        self.labels = labels
        self.catalog = catalog
    }

    func run() {
        let start = DispatchTime.now().uptimeNanoseconds
        tiles = QCMontage().renderTiles(image: image, labels: labels, catalog: catalog)
        seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
