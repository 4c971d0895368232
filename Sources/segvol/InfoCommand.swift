import ArgumentParser
import ImagingCore

/// `segvol info`: geometry and non-identifying metadata of a NIfTI file or DICOM series.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Print the geometry (matrix, voxel size, orientation, affine) and metadata of scans."
    )

    @Argument(help: "A NIfTI file, or DICOM files or folders.")
    var inputs: [String]

    @Option(help: "For a 4-D NIfTI input, the volume to describe (0-based).")
    var volume: Int?

    func run() throws {
        let loaded = try InputLoader.loadReporting(inputs, volumeIndex: volume)
        var worst = ExitStatus.ok
        for item in loaded.series {
            print("== \(item.label)")
            switch item.result {
            case .success(let scan):
                print(metadataText(scan.metadata))
                print(geometryText(scan.image.grid))
                print(intensityText(scan.image))
                scan.warnings.forEach { print("warning     \($0)") }
            case .failure(let error):
                print("refused     [\(error.code)] \(error.reason)\n            \(error.remedy)")
                worst = max(worst, ExitStatus.forError(error))
            }
        }
        if worst != ExitStatus.ok { throw ExitCode(worst) }
    }
}
