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
        /// The segmenter's stages, then volumes, write_labels, write_csv, write_qc.
        var timings: [StageTiming]
    }

    /// Segments `image` as `region` and writes the outputs into `directory` (created if needed);
    /// `input` names the scan in a refusal.
    func run(_ image: ImageVolume, region: Region, directory: String, input: String = "the scan") throws -> Outcome {
        let result = try segmenter.segment(image, region: region, input: input)
        var timings = result.timings
        var clock = DispatchTime.now().uptimeNanoseconds
        func lap(_ stage: String) {
            let now = DispatchTime.now().uptimeNanoseconds
            timings.append(StageTiming(stage: stage, seconds: Double(now - clock) / 1e9))
            clock = now
        }
        let report = referenceStages
            ? VolumeMeasurer.referenceMeasure(result.labels, catalog: catalog, region: region)
            : VolumeMeasurer.measure(result.labels, catalog: catalog, region: region)
        lap("volumes")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let classes = Set(catalog.classes(in: region).map(\.id) + report.rows.map(\.id))
        let table = LabelTable(entries: catalog.classes.filter { classes.contains($0.id) }
            .map { LabelEntry(id: Int32($0.id), name: $0.name, color: $0.color) })
        try NIfTIWriter.writeLabels(result.labels, table: table, to: directory + "/labels.nii.gz",
                                    description: "segvol \(segvolVersion) \(region.rawValue)")
        lap("write_labels")
        try VolumesCSV.write(report, to: directory + "/volumes.csv")
        lap("write_csv")
        var perClass: [Int: Double] = [:]
        for row in report.rows { perClass[row.id, default: 0] += row.volumeML }
        let title = "segvol \(region.rawValue) model \(model.version)"
        if referenceStages {
            let picture = QCMontage().referenceRender(image: image, labels: result.labels, catalog: catalog, volumesML: perClass, title: title)
            try PNGWriter.write(picture, to: directory + "/qc.png", fast: false)
        } else {
            try QCMontage().write(image: image, labels: result.labels, catalog: catalog, volumesML: perClass,
                                  title: title, to: directory + "/qc.png")
        }
        lap("write_qc")
        return Outcome(result: result, report: report, files: ["labels.nii.gz", "volumes.csv", "qc.png"], timings: timings)
    }
}
