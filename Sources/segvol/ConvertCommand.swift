import ArgumentParser
import Foundation
import ImagingCore
import NIfTIIO
import Resampling

/// `segvol convert`: DICOM series or NIfTI in, NIfTI-1 `.nii.gz` (RAS+ mm) out.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert DICOM series or a NIfTI file to NIfTI-1 (.nii.gz), optionally resampled to a region profile.",
        discussion: """
            INPUT is a folder (searched at any depth), DICOM files (found by content), or one \
            .nii/.nii.gz file. With -o FILE.nii.gz exactly one series must result (pick one with \
            --series); with -o FOLDER every series is written as series<N>.nii.gz with a JSON sidecar.
            """
    )

    @Argument(help: "DICOM files or folders, or one NIfTI file.")
    var inputs: [String]

    @Option(name: .shortAndLong, help: "Output .nii.gz file, or a folder for one file per series.")
    var output: String

    @Option(help: "Convert only the series with this SeriesNumber.")
    var series: Int?

    @Option(help: "For a 4-D NIfTI input, the volume to take (0-based; default 0 with a warning).")
    var volume: Int?

    @Option(help: "Resample to a region profile: \(ResampleProfile.names.joined(separator: ", ")).")
    var profile: String?

    func validate() throws {
        if let profile, ResampleProfile.named(profile) == nil {
            throw ValidationError("unknown profile '\(profile)'; choose one of: \(ResampleProfile.names.joined(separator: ", "))")
        }
    }

    func run() throws {
        let loaded = try InputLoader.loadReporting(inputs, volumeIndex: volume)
        var chosen = loaded.series
        if let series {
            chosen = chosen.filter { $0.seriesNumber == series }
            if chosen.isEmpty {
                note("no series with number \(series); found: \(loaded.series.map(\.label).joined(separator: "; "))")
                throw ExitCode(ExitStatus.noInput)
            }
        }
        let toFolder = !(output.lowercased().hasSuffix(".nii.gz") || output.lowercased().hasSuffix(".nii"))
        let converted = chosen.filter { (try? $0.result.get()) != nil }
        if !toFolder && converted.count > 1 {
            note("\(converted.count) series found but -o names one file; pick one with --series N or give a folder:")
            converted.forEach { note("  \($0.label)") }
            throw ExitCode(ExitStatus.usage)
        }
        if toFolder { try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true) }

        var worst = ExitStatus.ok
        var written = 0
        for (index, item) in chosen.enumerated() {
            switch item.result {
            case .failure(let error):
                report(error)
                worst = max(worst, ExitStatus.forError(error))
            case .success(let scan):
                let name = item.seriesNumber.map { "series\($0)" } ?? "volume\(index + 1)"
                let path = toFolder ? uniquePath(in: output, base: name) : output
                do {
                    try write(scan, to: path, input: item.label)
                    written += 1
                    print("\(item.label) → \(path)")
                } catch let error as ImagingError {
                    report(error)
                    worst = max(worst, ExitStatus.forError(error))
                }
            }
        }
        if worst != ExitStatus.ok {
            throw ExitCode(written > 0 ? ExitStatus.partial : worst)
        }
    }

    /// Writes the scan (resampled when a profile is asked for) and its JSON sidecar; `input`
    /// names the scan in a refusal.
    private func write(_ scan: Scan, to path: String, input: String) throws {
        scan.warnings.forEach { note("warning: \($0)") }
        var image = scan.image
        var sidecar = ConvertSidecar(metadata: scan.metadata, warnings: scan.warnings)
        if let name = profile, let chosen = ResampleProfile.named(name) {
            let (resampled, transform) = try toProfile(image, profile: chosen, input: input)
            image = resampled
            sidecar.profile = name
            sidecar.nativeGrid = transform.sourceGrid
        }
        try NIfTIWriter.writeImage(image, to: path, description: scan.metadata.seriesDescription ?? "segvol")
        try sidecar.write(next: path)
    }

    private func uniquePath(in folder: String, base: String) -> String {
        var candidate = "\(folder)/\(base).nii.gz", n = 2
        while FileManager.default.fileExists(atPath: candidate) {
            candidate = "\(folder)/\(base)_\(n).nii.gz"
            n += 1
        }
        return candidate
    }
}

/// The JSON written beside each converted volume: what it is, never who it is.
struct ConvertSidecar: Codable {
    var modality: String?
    var bodyPartExamined: String?
    var seriesDescription: String?
    var seriesNumber: Int?
    var seriesInstanceUID: String?
    var studyInstanceUID: String?
    var manufacturer: String?
    var magneticFieldStrength: Double?
    var sourceFormat: String?
    var warnings: [String]
    var profile: String?
    var nativeGrid: Grid?
    var converter = "segvol \(segvolVersion)"

    init(metadata m: ScanMetadata, warnings: [String]) {
        modality = m.modality; bodyPartExamined = m.bodyPartExamined; seriesDescription = m.seriesDescription
        seriesNumber = m.seriesNumber; seriesInstanceUID = m.seriesInstanceUID; studyInstanceUID = m.studyInstanceUID
        manufacturer = m.manufacturer; magneticFieldStrength = m.magneticFieldStrength; sourceFormat = m.sourceFormat
        self.warnings = warnings
    }

    /// Writes `x.json` next to `x.nii.gz` (or `x.nii`).
    func write(next imagePath: String) throws {
        let base = imagePath.hasSuffix(".nii.gz") ? String(imagePath.dropLast(7)) : String(imagePath.dropLast(4))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try DurableFile.write(Array(try encoder.encode(self)), to: base + ".json")
    }
}
