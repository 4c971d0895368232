import Anatomy
import Foundation
import ImagingCore
import NIfTIIO
import NeuralEngine
import Resampling
import Segmentation

/// One case made ready for training: every profile slice cut to the network's input window
/// (`Preprocessor.prepare`, the path inference uses), its targets in output channels
/// (`LabelMapping`), and what validation needs to go back to the native grid.
///
/// `segvol train` prepares every case with the whole profile slice (`.covering`), as inference
/// does: validation scores what a segmentation would give, and the sampler crops training
/// slices wider than the plan's input size at random places. `.planSize` (a centre crop) is
/// still available to callers that want one size.
public struct PreparedCase: Sendable {
    public var caseName: String
    public var subject: String
    public var dataset: String
    public var region: Region
    /// Presence and super labels of this case over the plan's channels.
    public var info: ImageLabelInfo
    /// Channels validation Dice scores for this case.
    public var scoredChannels: [Int]
    /// Native ↔ profile record of the image.
    public var transform: ProfileTransform
    /// Where the input window sits on each profile slice.
    public var window: SliceWindow
    public var sliceCount: Int
    /// Normalised input, (S, H, W), H = window.height, W = window.width.
    public var images: [Float]
    /// Targets, (S, H, W): channel, C + j for super label j; 0 outside the profile slice.
    public var targets: [Int32]
    /// Per slice: true when some pixel has a foreground target (≥ 1).
    public var hasForeground: [Bool]

    /// Pixels per slice.
    public var sliceSize: Int { window.height * window.width }
}

/// Loads cases for training, through the on-disk slice cache when one is given.
public enum CaseLoader {
    /// Prepares `trainingCase` for `plan`. With a cache directory, a cached copy whose key
    /// (input content hash + plan preprocessing hash + cache format) matches is read instead,
    /// and a fresh preparation is written there durably. Returns whether the cache was hit.
    /// `contentHash` is `trainingCase.contentHash()` when the caller has it already; `window`
    /// is `.covering` in `segvol train` (training and validation), `.planSize` for a centre crop.
    public static func prepare(
        _ trainingCase: TrainingCase, contentHash: String? = nil, plan: ModelPlan, catalog: LabelCatalog, cacheDirectory: String?,
        window: WindowPolicy
    ) throws(ImagingError) -> (PreparedCase, cacheHit: Bool) {
        guard let cacheDirectory else { return (try prepareFresh(trainingCase, plan: plan, catalog: catalog, window: window), false) }
        let hash: String
        if let contentHash { hash = contentHash } else { hash = try trainingCase.contentHash() }
        let key = SliceCache.key(contentHash: hash, plan: plan, catalog: catalog, window: window)
        if let cached = SliceCache.read(key: key, directory: cacheDirectory) { return (cached, true) }
        let fresh = try prepareFresh(trainingCase, plan: plan, catalog: catalog, window: window)
        try SliceCache.write(fresh, key: key, directory: cacheDirectory)
        return (fresh, false)
    }

    /// Reads, resamples, normalises and maps one case (no cache).
    public static func prepareFresh(_ c: TrainingCase, plan: ModelPlan, catalog: LabelCatalog,
                                    window: WindowPolicy) throws(ImagingError) -> PreparedCase {
        let image = try readImage(c.imagePath)
        let labels = try readNativeTargets(c, plan: plan, catalog: catalog, imageGrid: image.grid)
        let prepared = try Preprocessor.prepare(image, plan: plan, region: c.labels.region, window: window, input: c.imagePath)
        let onProfile = prepared.transform.toProfile(labels)
        let mapping = LabelMapping(sidecar: c.labels, plan: plan, catalog: catalog)
        let w = prepared.window
        let s = prepared.sliceCount, hw = w.height * w.width
        var images = [Float](repeating: 0, count: s * hw)
        var targets = [Int32](repeating: 0, count: s * hw)
        var fg = [Bool](repeating: false, count: s)
        images.withUnsafeMutableBufferPointer { img in
            targets.withUnsafeMutableBufferPointer { tgt in
                for k in 0..<s {
                    w.extract(prepared.volume, slice: k, fill: 0, into: img.baseAddress! + k * hw)
                    w.extract(onProfile, slice: k, fill: 0, into: tgt.baseAddress! + k * hw)
                    fg[k] = UnsafeBufferPointer(rebasing: tgt[(k * hw)..<((k + 1) * hw)]).contains { $0 > 0 }
                }
            }
        }
        return PreparedCase(caseName: c.name, subject: c.labels.subject, dataset: c.labels.dataset, region: c.labels.region,
                            info: mapping.info, scoredChannels: mapping.scoredChannels, transform: prepared.transform,
                            window: w, sliceCount: s, images: images, targets: targets, hasForeground: fg)
    }

    /// The case's label map on its native grid, mapped to targets (validation compares with it).
    public static func readNativeTargets(_ c: TrainingCase, plan: ModelPlan, catalog: LabelCatalog, imageGrid: Grid) throws(ImagingError) -> LabelVolume {
        let raw: LabelVolume
        do { raw = try NIfTIReader.readLabels(path: c.labelsPath).0 } catch let e as ImagingError { throw e } catch {
            throw ImagingError(.unreadable, input: c.labelsPath, reason: "\(error)", remedy: "check the label map")
        }
        guard raw.shape == imageGrid.shape, raw.grid.matches(imageGrid) else {
            throw ImagingError(.trainingDataInvalid, input: c.labelsPath,
                               reason: "the label map's grid \(raw.shape) does not match the image's \(imageGrid.shape) (shape or affine)",
                               remedy: "save the label map on the image's grid")
        }
        let mapping = LabelMapping(sidecar: c.labels, plan: plan, catalog: catalog)
        let mapped = try mapping.apply(raw, source: c.labelsPath)
        return LabelVolume(grid: imageGrid, data: mapped.data)
    }

    /// Reads a NIfTI image as Float.
    public static func readImage(_ path: String) throws(ImagingError) -> ImageVolume {
        do { return try NIfTIReader.readImage(path: path).image } catch let e as ImagingError { throw e } catch {
            throw ImagingError(.unreadable, input: path, reason: "\(error)", remedy: "check the image file")
        }
    }
}
