import Anatomy
import Foundation
import ImagingCore

/// One annotated case on disk: a folder with the image, its label map, the `case.json`
/// sidecar (docs/formats.md) and, for phantoms, `truth.json` with exact volumes.
///
/// File names: `image.nii.gz` or `image.nii`, `labels.nii.gz` or `labels.nii`, `case.json`,
/// optional `truth.json` (the layout `segvol phantom` writes). DICOM images are not read here:
/// convert them first (`segvol convert`).
public struct TrainingCase: Sendable, Equatable {
    /// The case folder.
    public var folder: String
    public var imagePath: String
    public var labelsPath: String
    public var sidecarPath: String
    /// `truth.json` when the folder has one.
    public var truthPath: String?
    /// The parsed sidecar (validated against the catalog by `discover`).
    public var labels: CaseLabels

    /// A stable name for reports: the folder name.
    public var name: String { (folder as NSString).lastPathComponent }

    /// Finds every case folder below `directory` (any depth; folders and files starting with
    /// `.` are skipped, so the slice cache inside the data folder is never read as a case).
    /// A folder is a case when it holds `case.json`; it must then hold an image and a label map.
    /// Cases are returned sorted by folder path, so every run sees the same order.
    public static func discover(in directory: String, catalog: LabelCatalog) throws(ImagingError) -> [TrainingCase] {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw ImagingError(.notFound, input: directory, reason: "the training data folder does not exist",
                               remedy: "pass --data with a folder of case folders (image, labels, case.json)")
        }
        var folders: [String] = []
        var stack = [directory]
        while let dir = stack.popLast() {
            let entries = ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") }
            if entries.contains("case.json") { folders.append(dir) }
            for e in entries {
                let path = dir + "/" + e
                if fm.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue, e != "image" { stack.append(path) }
            }
        }
        var cases: [TrainingCase] = []
        for folder in folders.sorted() { cases.append(try load(folder: folder, catalog: catalog)) }
        guard !cases.isEmpty else {
            throw ImagingError(.trainingDataInvalid, input: directory, reason: "no case folder (a folder with case.json) was found",
                               remedy: "write cases with `segvol phantom` or put image, labels and case.json in one folder per case")
        }
        return cases
    }

    /// Reads one case folder's sidecar and checks that its files exist.
    public static func load(folder: String, catalog: LabelCatalog) throws(ImagingError) -> TrainingCase {
        let fm = FileManager.default
        func first(_ names: [String]) -> String? { names.map { folder + "/" + $0 }.first { fm.fileExists(atPath: $0) } }
        guard let image = first(["image.nii.gz", "image.nii"]) else {
            let hasDICOM = fm.fileExists(atPath: folder + "/image")
            throw ImagingError(.trainingDataInvalid, input: folder,
                               reason: hasDICOM ? "the case's image is a DICOM folder; training reads NIfTI" : "the case has no image.nii.gz or image.nii",
                               remedy: hasDICOM ? "convert it with `segvol convert image -o image.nii.gz`" : "put the scan beside case.json as image.nii.gz")
        }
        guard let labels = first(["labels.nii.gz", "labels.nii"]) else {
            throw ImagingError(.trainingDataInvalid, input: folder, reason: "the case has no labels.nii.gz or labels.nii",
                               remedy: "put the label map beside case.json as labels.nii.gz")
        }
        let sidecarPath = folder + "/case.json"
        let sidecar = try CaseLabels.read(path: sidecarPath)
        try sidecar.validate(against: catalog, source: sidecarPath)
        return TrainingCase(folder: folder, imagePath: image, labelsPath: labels, sidecarPath: sidecarPath,
                            truthPath: first(["truth.json"]), labels: sidecar)
    }

    /// SHA-256 of the case's input bytes (image, labels, sidecar, each length-prefixed): the
    /// cache key's content part and an element of the data snapshot hash.
    public func contentHash() throws(ImagingError) -> String {
        var h = SHA256()
        for path in [imagePath, labelsPath, sidecarPath] {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ImagingError(.unreadable, input: path, reason: "the file cannot be read", remedy: "check the file's permissions")
            }
            var n = UInt64(data.count).littleEndian
            withUnsafeBytes(of: &n) { h.update($0) }
            data.withUnsafeBytes { h.update($0) }
        }
        return h.finalizeHex()
    }
}

/// `truth.json`'s volumes, the part validation reads (the full record is Phantoms' `PhantomTruth`;
/// Training reads the file without depending on the generator).
public struct CaseTruth: Codable, Sendable, Equatable {
    public struct ClassVolume: Codable, Sendable, Equatable {
        public var id: Int
        public var name: String
        /// Volume of the continuous shape inside the scanned slab (mL).
        public var exactML: Double
    }
    public var classes: [ClassVolume]

    /// Reads `truth.json`; nil when it cannot be read or parsed (volume errors are then skipped).
    public static func read(path: String) -> CaseTruth? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(CaseTruth.self, from: data)
    }
}
