import Anatomy
import ArgumentParser
import DICOMIO
import Dispatch
import Foundation
import ImagingCore
import NIfTIIO
import Phantoms
import Training
import Volumetry

/// `segvol phantom`: synthetic thigh, calf or abdomen scans with exact ground truth.
struct PhantomCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "phantom",
        abstract: "Write synthetic thigh/calf (T1 MR) or abdomen (CT) scans with exact ground truth.",
        discussion: """
            Each visit goes to DIR/<subject>-v<visit>/: image.nii.gz (or image/ as a DICOM \
            series with --dicom), labels.nii.gz (the dataset's label map, with labels.json \
            naming its values), case.json (the label sidecar) and truth.json (exact volumes). \
            Datasets: \(PhantomDataset.all.map(\.name).joined(separator: ", ")). See docs/phantoms.md.
            """
    )

    @Option(help: "Body region: thigh, calf or abdomen.")
    var region: String?

    @Option(help: "Subject seed (same seed, same bytes).")
    var seed: UInt64?

    @Flag(help: "Write the default model's phantom training set (9 datasets × 6 subjects, 192×192×16) with its frozen split.json into DIR; cases already there are kept.")
    var defaultSet = false

    @Flag(help: "Both limbs in the field of view (thigh and calf).")
    var bilateral = false

    @Option(help: "Number of visits of the subject (1...20).")
    var visits: Int = 1

    @Option(help: "Partial-label dataset to emulate (default: <region>-full).")
    var dataset: String?

    @Flag(help: "Write the image as a DICOM series instead of NIfTI.")
    var dicom = false

    @Option(help: "DICOM transfer syntax: \(DICOMTransferSyntax.allCases.map(\.name).joined(separator: ", ")).")
    var transferSyntax: String = "explicit-le"

    @Option(help: "In-plane matrix, e.g. 512x512 (default: drawn from the seed).")
    var matrix: String?

    @Option(help: "Number of slices (default: drawn from the seed).")
    var slices: Int?

    @Option(help: "Rays per cross-section for the exact volumes (more: slower, more exact; see docs/phantoms.md).")
    var rays: Int = 2048

    @Flag(help: "Also write preview.png: the middle slice, plain and with label outlines (radiological view).")
    var png = false

    @Option(help: "Configuration folder holding labels.toml (default: SEGVOL_CONFIG_DIR, /etc/segvol, the source tree).")
    var config: String?

    @Option(name: .shortAndLong, help: "Output folder.")
    var output: String

    var parsedRegion: Region? { region.flatMap(Region.init(rawValue:)) }

    var parsedMatrix: [Int]? {
        guard let matrix else { return nil }
        let parts = matrix.lowercased().split(separator: "x").compactMap { Int($0) }
        return parts.count == 2 && parts.allSatisfy({ (16...2048).contains($0) }) ? parts : nil
    }

    func validate() throws {
        if defaultSet {
            guard region == nil, seed == nil, dataset == nil, matrix == nil, slices == nil, visits == 1, !bilateral, !dicom, !png else {
                throw ValidationError("--default-set takes only -o (and --config): the set's regions, seeds, datasets and sizes are fixed")
            }
            return
        }
        guard seed != nil else { throw ValidationError("give --seed (or --default-set)") }
        guard let r = parsedRegion else { throw ValidationError("unknown region '\(region ?? "")'; choose thigh, calf or abdomen") }
        guard (1...20).contains(visits) else { throw ValidationError("--visits must be in 1...20") }
        if let dataset {
            guard let d = PhantomDataset.named(dataset) else {
                throw ValidationError("unknown dataset '\(dataset)'; choose one of: \(PhantomDataset.all.map(\.name).joined(separator: ", "))")
            }
            guard d.region == r else { throw ValidationError("dataset '\(dataset)' is a \(d.region.rawValue) dataset, not \(r.rawValue)") }
        }
        if bilateral && r == .abdomen { throw ValidationError("--bilateral applies to thigh and calf only") }
        if DICOMTransferSyntax(name: transferSyntax) == nil {
            throw ValidationError("unknown transfer syntax '\(transferSyntax)'; choose one of: \(DICOMTransferSyntax.allCases.map(\.name).joined(separator: ", "))")
        }
        if matrix != nil && parsedMatrix == nil { throw ValidationError("--matrix must look like 512x512") }
        if let slices, !(1...1000).contains(slices) { throw ValidationError("--slices must be in 1...1000") }
        if !(64...65536).contains(rays) { throw ValidationError("--rays must be in 64...65536") }
    }

    func run() throws {
        let catalog: LabelCatalog
        do { catalog = try LabelCatalog.load(configDirectory: config) } catch {
            report(error)
            throw ExitCode(ExitStatus.forError(error))
        }
        if defaultSet {
            do {
                let n = try PhantomTrainingSet.ensure(directory: output, catalog: catalog, log: { print($0) })
                print("\(output): the default phantom training set is complete (\(n) case(s) generated now)")
            } catch {
                report(error)
                throw ExitCode(ExitStatus.forError(error))
            }
            return
        }
        let region = parsedRegion!, seed = seed!
        let chosen = dataset.flatMap(PhantomDataset.named) ?? PhantomDataset.full(region)
        for visit in 1...visits {
            let request = PhantomRequest(region: region, seed: seed, visit: visit, bilateral: bilateral,
                                         matrix: parsedMatrix, slices: slices, rays: rays)
            let start = DispatchTime.now().uptimeNanoseconds
            let cpuStart = processCPUSeconds()
            let phantom: Phantom
            do { phantom = try PhantomGenerator.generate(request, catalog: catalog) } catch {
                report(error)
                throw ExitCode(ExitStatus.forError(error))
            }
            let generated = DispatchTime.now().uptimeNanoseconds
            let cpu = processCPUSeconds() - cpuStart
            let folder = "\(output)/\(request.subject)-v\(visit)"
            do {
                try write(phantom, dataset: chosen, catalog: catalog, to: folder)
            } catch let error as ImagingError {
                report(error)
                throw ExitCode(ExitStatus.forError(error))
            }
            let done = DispatchTime.now().uptimeNanoseconds
            let s = phantom.image.shape
            print(String(format: "%@: %dx%dx%d, %.2f mm x %.1f mm, %@, generated in %.2f s (%.2f s CPU), written in %.2f s",
                         folder, s[0], s[1], s[2], phantom.truth.parameters.spacingMM, phantom.truth.parameters.sliceThicknessMM,
                         phantom.image.grid.affine.axisCodes, Double(generated - start) / 1e9, cpu, Double(done - generated) / 1e9))
        }
    }

    /// Writes one case folder.
    func write(_ phantom: Phantom, dataset: PhantomDataset, catalog: LabelCatalog, to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // A rerun replaces the case: no slice of an earlier, longer series may stay behind.
        for stale in ["image", "image.nii.gz", "preview.png"] where FileManager.default.fileExists(atPath: folder + "/" + stale) {
            try FileManager.default.removeItem(atPath: folder + "/" + stale)
        }
        if dicom {
            var options = DICOMSeriesWriter.Options()
            options.transferSyntax = DICOMTransferSyntax(name: transferSyntax)!
            options.seriesNumber = phantom.metadata.seriesNumber ?? 1
            if phantom.truth.parameters.modality == "CT" { options.rescaleIntercept = -1024 }
            try DICOMSeriesWriter.write(phantom.image, metadata: phantom.metadata, to: folder + "/image", options: options)
        } else {
            try NIfTIWriter.writeImage(phantom.image, to: folder + "/image.nii.gz", description: phantom.metadata.seriesDescription ?? "segvol phantom")
        }
        try PhantomTrainingSet.writeAnnotation(phantom, dataset: dataset, catalog: catalog, to: folder)
        if png {
            let plain = SliceRenderer.renderSlice(phantom.image)
            let outlined = SliceRenderer.renderSlice(phantom.image, labels: phantom.labels, catalog: catalog)
            try PNGWriter.write(plain.beside(outlined), to: folder + "/preview.png")
        }
    }
}

/// CPU seconds this process has used (all threads).
func processCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}
