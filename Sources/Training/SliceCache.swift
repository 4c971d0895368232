import Anatomy
import Foundation
import ImagingCore
import NIfTIIO
import NeuralEngine
import Resampling
import Segmentation

/// The on-disk cache of prepared cases, so that a second run skips decompression, resampling
/// and label mapping.
///
/// One file per case, `<key>.slices`, where the key is the SHA-256 of the case's input bytes,
/// of everything in the plan that shapes preprocessing (input size, outputs, region plans), of
/// the catalog's classes and of the cache format version. Any change to those gives another key,
/// so a stale entry is never read (it stays on disk until the folder is cleared).
///
/// File layout (little-endian): magic `SVSLICE\0` (8 bytes), format version (UInt32), header
/// length L (UInt32), L bytes of header JSON (`Header`, which repeats the key), then the images
/// (Float32, S×H×W) and the targets (Int32, S×H×W). Written with `DurableFile.write` (temporary
/// file, fsync, rename, directory fsync), so a killed run leaves either the old file or the new.
public enum SliceCache {
    /// Cache format version; bump it whenever preparation or the layout changes.
    public static let formatVersion: UInt32 = 1
    static let magic: [UInt8] = Array("SVSLICE".utf8) + [0]

    struct Header: Codable {
        var key: String
        var caseName: String
        var subject: String
        var dataset: String
        var region: Region
        var annotated: [Bool]?
        var superLabels: [[Int]]
        var scoredChannels: [Int]
        var transform: ProfileTransform
        var window: SliceWindow
        var sliceCount: Int
        var hasForeground: [Bool]
    }

    /// The cache key of a case with input hash `contentHash` under `plan` and `catalog`, with
    /// the window `window` says (a covering window's key differs; the plan-size key is the one
    /// of earlier builds, so their caches stay valid).
    public static func key(contentHash: String, plan: ModelPlan, catalog: LabelCatalog, window: WindowPolicy = .planSize) -> String {
        let base = "\(formatVersion)|\(contentHash)|\(planHash(plan))|\(catalogHash(catalog))"
        switch window {
        case .planSize: return SHA256.hex(base)
        case .covering(let maxPixels): return SHA256.hex(base + "|covering \(maxPixels)")
        }
    }

    /// SHA-256 of the plan's preprocessing part (input size, outputs, regions; not the
    /// architecture or the loss), as canonical JSON.
    public static func planHash(_ plan: ModelPlan) -> String {
        struct Part: Encodable {
            var inputSize: [Int]
            var outputs: [ModelPlan.OutputClass]
            var regions: [String: ModelPlan.RegionPlan]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = (try? encoder.encode(Part(inputSize: plan.inputSize, outputs: plan.outputs, regions: plan.regions))) ?? Data()
        return SHA256.hex(Array(bytes))
    }

    /// SHA-256 of the catalog's ids, names and regions (presence depends on regions).
    static func catalogHash(_ catalog: LabelCatalog) -> String {
        SHA256.hex(catalog.classes.map { "\($0.id):\($0.name):\($0.regions.map(\.rawValue).sorted().joined(separator: ","))" }
            .joined(separator: ";"))
    }

    static func path(key: String, directory: String) -> String { "\(directory)/\(key).slices" }

    /// The cached case for `key`, or nil when absent, unreadable, of another format or key.
    public static func read(key: String, directory: String) -> PreparedCase? {
        guard let data = FileManager.default.contents(atPath: path(key: key, directory: directory)) else { return nil }
        return data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> PreparedCase? in
            guard raw.count >= 16, Array(raw[0..<8]) == magic,
                  raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian == formatVersion else { return nil }
            let headerLength = Int(raw.loadUnaligned(fromByteOffset: 12, as: UInt32.self).littleEndian)
            guard raw.count >= 16 + headerLength,
                  let header = try? JSONDecoder().decode(Header.self, from: Data(raw[16..<(16 + headerLength)])),
                  header.key == key else { return nil }
            let count = header.sliceCount * header.window.width * header.window.height
            let start = 16 + headerLength
            guard raw.count == start + 8 * count, header.hasForeground.count == header.sliceCount else { return nil }
            var images = [Float](repeating: 0, count: count)
            var targets = [Int32](repeating: 0, count: count)
            images.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[start..<(start + 4 * count)])) }
            targets.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[(start + 4 * count)...])) }
            return PreparedCase(caseName: header.caseName, subject: header.subject, dataset: header.dataset, region: header.region,
                                info: ImageLabelInfo(annotated: header.annotated, superLabels: header.superLabels),
                                scoredChannels: header.scoredChannels, transform: header.transform, window: header.window,
                                sliceCount: header.sliceCount, images: images, targets: targets, hasForeground: header.hasForeground)
        }
    }

    /// Writes `prepared` under `key` durably (creating the directory).
    public static func write(_ prepared: PreparedCase, key: String, directory: String) throws(ImagingError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ImagingError(.writeFailed, input: directory, reason: "cannot create the slice cache folder",
                               remedy: "check permissions, or pass --cache with a writable folder")
        }
        let header = Header(key: key, caseName: prepared.caseName, subject: prepared.subject, dataset: prepared.dataset,
                            region: prepared.region, annotated: prepared.info.annotated, superLabels: prepared.info.superLabels,
                            scoredChannels: prepared.scoredChannels, transform: prepared.transform, window: prepared.window,
                            sliceCount: prepared.sliceCount, hasForeground: prepared.hasForeground)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]  // stable bytes (corelibs' keyed containers are unordered)
        let json = (try? encoder.encode(header)).map(Array.init) ?? []
        var bytes = magic
        bytes.reserveCapacity(16 + json.count + 8 * prepared.images.count)
        withUnsafeBytes(of: formatVersion.littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(json.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes += json
        prepared.images.withUnsafeBytes { bytes.append(contentsOf: $0) }
        prepared.targets.withUnsafeBytes { bytes.append(contentsOf: $0) }
        do { try DurableFile.write(bytes, to: path(key: key, directory: directory)) } catch let e as ImagingError { throw e } catch {
            throw ImagingError(.writeFailed, input: path(key: key, directory: directory), reason: "\(error)", remedy: "check free disk space")
        }
    }
}
