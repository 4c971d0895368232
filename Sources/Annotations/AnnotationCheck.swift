import Anatomy
import DICOMIO
import Foundation
import ImagingCore
import NIfTIIO
import Spool

/// An annotation that passed every check, ready for the dataset store.
public struct CheckedAnnotation: Sendable {
    public var image: ImageVolume
    public var labels: LabelVolume
    /// The sidecar with defaults filled in (region, dataset, source).
    public var sidecar: CaseLabels
    /// SHA-256 of the grid, image voxels and label voxels: the store key and duplicate test.
    public var contentHash: String
    /// Non-fatal findings (e.g. `annotation_class_absent`), each "code: message".
    public var warnings: [String]
    /// Where the image came from: `image.nii.gz`, `image/` (DICOM) or `outbox/<job>/image.nii.gz`.
    public var imageSource: String
}

/// Validates one annotation case folder (docs/operations.md "Annotations"). Reads files only
/// after the folder settled and `DropInspector` found no unsafe entry.
public enum AnnotationCheck {
    /// Largest affine difference (mm) between image and label grids still taken as one grid.
    public static let affineTolerance = 1e-3

    /// Runs every check in order: sidecar, class names, files, geometry, label values, empty map,
    /// classes declared present but absent (a warning). `outbox` resolves a `job` reference.
    public static func check(folder: String, region: Region, catalog: LabelCatalog, outbox: String) throws(ImagingError) -> CheckedAnnotation {
        let sidecarPath = folder + "/case.json"
        let sidecar = try AnnotationSidecar.read(path: sidecarPath, region: region)
        try AnnotationSidecar.validate(sidecar, catalog: catalog, path: sidecarPath)
        let (image, imageSource) = try readImage(folder: folder, job: sidecar.job, outbox: outbox)
        guard let labelsPath = first(in: folder, ["labels.nii.gz", "labels.nii"]) else {
            throw ImagingError(.annotationIncomplete, input: folder, reason: "the case has no labels.nii.gz or labels.nii",
                               remedy: "put the label map beside case.json as labels.nii.gz, then move the case back")
        }
        let labels: LabelVolume
        do { labels = try NIfTIReader.readLabels(path: labelsPath).0 } catch {
            throw ImagingError(.annotationUnreadable, input: labelsPath, reason: "the label map cannot be read (\(reason(error)))",
                               remedy: "save the label map as NIfTI (integer values), then move the case back")
        }
        try checkGeometry(image: image.grid, labels: labels.grid, path: labelsPath)
        var counts: [Int32: Int] = [:]
        for v in labels.data where v != 0 { counts[v, default: 0] += 1 }
        let unlisted = counts.keys.filter { sidecar.labels[Int($0)] == nil }.sorted()
        if !unlisted.isEmpty {
            throw ImagingError(.annotationLabelValues, input: labelsPath,
                               reason: "label value(s) \(unlisted.prefix(10).map(String.init).joined(separator: ", "))\(unlisted.count > 10 ? " …" : "") are not listed in case.json",
                               remedy: "map every value of the label map to a class in case.json's labels (or set stray voxels to 0), then move the case back")
        }
        guard !counts.isEmpty else {
            throw ImagingError(.annotationEmpty, input: labelsPath, reason: "the label map holds no annotated voxel (all 0)",
                               remedy: "save the label map with its annotations, then move the case back")
        }
        var warnings: [String] = []
        for name in sidecar.present {
            let drawn = sidecar.labels.contains { value, target in target.names.contains(name) && (counts[Int32(value)] ?? 0) > 0 }
            if !drawn {
                warnings.append("\(ImagingError.Code.annotationClassAbsent): class '\(name)' is declared present but has no voxel in the label map (taken as truly absent in this scan)")
            }
        }
        return CheckedAnnotation(image: image, labels: labels, sidecar: sidecar,
                                 contentHash: contentHash(image: image, labels: labels), warnings: warnings, imageSource: imageSource)
    }

    /// Shape must match, affines within `affineTolerance`.
    static func checkGeometry(image: Grid, labels: Grid, path: String) throws(ImagingError) {
        guard image.shape == labels.shape else {
            throw ImagingError(.annotationGeometry, input: path,
                               reason: "the label map is \(labels.shape.map(String.init).joined(separator: "×")) voxels, the image \(image.shape.map(String.init).joined(separator: "×"))",
                               remedy: "save the label map on the image's grid (same matrix and slices), then move the case back")
        }
        let d = image.affine.maxDifference(to: labels.affine)
        guard d <= affineTolerance else {
            throw ImagingError(.annotationGeometry, input: path,
                               reason: String(format: "the label map's affine differs from the image's by %.4g mm (tolerance %.0e mm)", d, affineTolerance),
                               remedy: "save the label map with the image's geometry (spacing, origin, orientation), then move the case back")
        }
    }

    /// The image: the job's converted image, `image.nii.gz`/`image.nii`, or an `image/` DICOM folder.
    static func readImage(folder: String, job: String?, outbox: String) throws(ImagingError) -> (ImageVolume, String) {
        if let job {
            let path = outbox + "/" + job + "/image.nii.gz"
            guard FileManager.default.fileExists(atPath: path) else {
                throw ImagingError(.annotationIncomplete, input: path, reason: "job '\(job)' has no image in the outbox",
                                   remedy: "name a job that is still in outbox/ (or put the image beside case.json), then move the case back")
            }
            return (try readNIfTI(path), "outbox/\(job)/image.nii.gz")
        }
        if let path = first(in: folder, ["image.nii.gz", "image.nii"]) {
            return (try readNIfTI(path), (path as NSString).lastPathComponent)
        }
        var isDir: ObjCBool = false
        let dicom = folder + "/image"
        guard FileManager.default.fileExists(atPath: dicom, isDirectory: &isDir), isDir.boolValue else {
            throw ImagingError(.annotationIncomplete, input: folder, reason: "the case has no image (image.nii.gz, image.nii or an image/ DICOM folder) and no job reference",
                               remedy: "add the image, or name the processed job in case.json's \"job\", then move the case back")
        }
        // The files themselves, so that dotfiles and temporary names are never opened.
        var files: [String] = []
        var stack = [dicom]
        while let dir = stack.popLast() {
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() where !isTemporaryName(name) {
                let path = dir + "/" + name
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue { stack.append(path) } else { files.append(path) }
            }
        }
        guard !files.isEmpty else {
            throw ImagingError(.annotationIncomplete, input: dicom, reason: "image/ holds no file", remedy: "put the annotated DICOM series in image/, then move the case back")
        }
        let result: DICOMReadResult
        do { result = try DICOMReader.read(paths: files) } catch {
            throw ImagingError(.annotationUnreadable, input: dicom, reason: "image/ cannot be read as DICOM (\(error.reason) [\(error.code)])",
                               remedy: "put exactly the annotated series in image/, then move the case back")
        }
        let scans = result.scans
        guard scans.count == 1 else {
            throw ImagingError(.annotationUnreadable, input: dicom,
                               reason: scans.isEmpty ? "image/ holds no readable DICOM series" : "image/ holds \(scans.count) series; one is needed",
                               remedy: "put exactly the annotated series in image/, then move the case back")
        }
        return (scans[0].image, "image/")
    }

    static func readNIfTI(_ path: String) throws(ImagingError) -> ImageVolume {
        do { return try NIfTIReader.readImage(path: path).image } catch {
            throw ImagingError(.annotationUnreadable, input: path, reason: "the image cannot be read (\(reason(error)))",
                               remedy: "save the image as NIfTI or a DICOM folder image/, then move the case back")
        }
    }

    /// An error's reason without its path (folder names may identify patients, invariant I6).
    static func reason(_ error: Error) -> String {
        (error as? ImagingError).map { "\($0.reason) [\($0.code)]" } ?? "\(error)"
    }

    static func first(in folder: String, _ names: [String]) -> String? {
        names.map { folder + "/" + $0 }.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// SHA-256 of the grid (shape, affine), the image voxels (float32) and the label voxels (int32):
    /// the same annotation saved as .nii or .nii.gz, or from DICOM, hashes the same.
    public static func contentHash(image: ImageVolume, labels: LabelVolume) -> String {
        var h = SHA256()
        h.update(Array("segvol-annotation-v1 \(image.grid.shape) \(image.grid.affine)\n".utf8))
        image.data.withUnsafeBytes { h.update($0) }
        labels.data.withUnsafeBytes { h.update($0) }
        return h.finalizeHex()
    }
}
