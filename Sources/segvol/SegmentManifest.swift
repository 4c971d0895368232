import Foundation
import ImagingCore
import NIfTIIO
import Resampling
import Segmentation
import Spool
import Volumetry

/// `manifest.json` of `segvol segment`: what went in, which model, every parameter, timings and
/// what came out (with SHA-256), so a result can be trusted and reproduced. Written last.
struct SegmentManifest: Encodable {
    var format = "segvol-segment-manifest"
    var version = 1
    var segvolVersion = segvol.segvolVersion
    var input: Input
    var region: String
    /// "option" or "header" (BodyPartExamined / series description).
    var regionSource: String
    var model: Model
    var plan: ModelPlan
    var settings: SegmentationSettings
    /// Native ↔ profile record (the resampling parameters).
    var transform: ProfileTransform
    var window: SliceWindow
    /// Catalog ids the argmax could choose.
    var allowedIDs: [Int]
    var sides: SideSplit
    var removedIslands: [Removed]
    /// Seconds per stage, in order.
    var timings: [StageTiming]
    var outputs: [FileRecord]
    var createdAt = ISO8601DateFormatter().string(from: Date())

    struct Input: Encodable {
        /// The input's file or folder name (not its full path, which may name a patient).
        var name: String
        var series: String
        var seriesInstanceUID: String?
        var sourceFormat: String?
        var modality: String?
        var shape: [Int]
        var spacingMM: [Double]
        var axisCodes: String
        /// Every input file (relative to the input folder) with its SHA-256.
        var files: [FileRecord]

        init(path: String, series: String, scan: Scan) throws {
            name = (path as NSString).lastPathComponent
            self.series = series
            seriesInstanceUID = scan.metadata.seriesInstanceUID
            sourceFormat = scan.metadata.sourceFormat
            modality = scan.metadata.modality
            shape = scan.image.shape
            let s = scan.image.grid.spacing
            spacingMM = [s.x, s.y, s.z]
            axisCodes = scan.image.grid.affine.axisCodes
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
                let relative = (FileManager.default.subpaths(atPath: path) ?? []).sorted().filter { rel in
                    var d: ObjCBool = false
                    return FileManager.default.fileExists(atPath: path + "/" + rel, isDirectory: &d) && !d.boolValue
                }
                files = try relative.map { try FileRecord(directory: path, name: $0) }
            } else {
                files = [try FileRecord(directory: (path as NSString).deletingLastPathComponent, name: name)]
            }
        }
    }

    struct Model: Encodable {
        var path: String
        var version: String
        var weightsSHA256: String
        var planSHA256: String

        init(folder: ModelFolder) throws {
            path = folder.path
            version = folder.version
            weightsSHA256 = try SHA256.hash(path: folder.weightsPath)
            planSHA256 = try SHA256.hash(path: folder.path + "/" + ModelFolder.planFile)
        }
    }

    struct Removed: Encodable {
        var id: Int
        var voxels: Int
        var components: Int
    }

    struct FileRecord: Encodable {
        var path: String
        var sha256: String
        var bytes: Int64

        init(directory: String, name: String) throws {
            let full = directory.isEmpty ? name : directory + "/" + name
            path = name
            sha256 = try SHA256.hash(path: full)
            bytes = ((try? FileManager.default.attributesOfItem(atPath: full)[.size]) as? NSNumber)?.int64Value ?? 0
        }
    }

    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try DurableFile.write(Array(try encoder.encode(self)), to: path)
    }
}
