import Anatomy
import Dispatch
import ImagingCore
import Resampling

/// Settings of one segmentation run.
public struct SegmentationSettings: Codable, Equatable, Sendable {
    /// Slices per network call. Larger batches use more memory (the engine's inference plan grows
    /// linearly) and run a little faster per slice.
    public var batchSize: Int
    /// Small-island removal after the argmax.
    public var islands: IslandRemoval
    /// Most pixels of the network window, which covers each profile slice whole
    /// (`WindowPolicy.covering`); a wider scan is refused with `window_too_large`.
    public var maxWindowPixels: Int

    public init(batchSize: Int = 8, islands: IslandRemoval = IslandRemoval(), maxWindowPixels: Int = WindowPolicy.defaultMaxPixels) {
        self.batchSize = batchSize
        self.islands = islands
        self.maxWindowPixels = maxWindowPixels
    }

    enum CodingKeys: String, CodingKey { case batchSize, islands, maxWindowPixels }

    /// Manifests of earlier builds have no `maxWindowPixels`: the default.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        islands = try c.decode(IslandRemoval.self, forKey: .islands)
        maxWindowPixels = try c.decodeIfPresent(Int.self, forKey: .maxWindowPixels) ?? WindowPolicy.defaultMaxPixels
    }
}

/// Seconds spent in one stage.
public struct StageTiming: Codable, Equatable, Sendable {
    public var stage: String
    public var seconds: Double
    public init(stage: String, seconds: Double) {
        self.stage = stage
        self.seconds = seconds
    }
}

/// A segmentation on the native grid, with what is needed to reproduce and audit it.
public struct SegmentationResult: Sendable {
    /// Catalog ids on the scan's native grid (0 = background).
    public var labels: LabelVolume
    public var region: Region
    /// The native ↔ profile record used.
    public var transform: ProfileTransform
    /// The network input window on each profile slice.
    public var window: SliceWindow
    /// Catalog ids the argmax could choose (background first).
    public var allowedIDs: [Int]
    /// What island removal took away.
    public var removed: IslandRemoval.Outcome
    /// preprocess, inference, to_native, postprocess.
    public var timings: [StageTiming]
}

/// Segments scans with one model: preprocessing (profile resampling, normalisation, window),
/// batched slice-wise inference, softmax restricted to the region's classes, fused trilinear
/// return to the native grid with argmax, and island removal (docs/segmentation.md).
public final class Segmenter {
    public let plan: ModelPlan
    public let catalog: LabelCatalog
    public let classifier: any SliceClassifier
    public var settings: SegmentationSettings
    /// Runs the reference twins of the fast stages (the full softmax, `NativeArgmax.fusedReference`,
    /// `IslandRemoval.referenceApply`): the same labels, the former speed. For A/B timing
    /// (`segvol bench pipeline --reference-stages`) and checks; never needed otherwise.
    public var useReferenceStages = false

    /// A segmenter with any classifier (tests use an oracle). The plan must fit the catalog and
    /// the classifier must have one output channel per plan output.
    public init(plan: ModelPlan, classifier: any SliceClassifier, catalog: LabelCatalog,
                settings: SegmentationSettings = .init()) throws(ImagingError) {
        try plan.validate(against: catalog)
        guard classifier.channelCount == plan.outputs.count else {
            throw ImagingError(.modelInvalid, input: "model", reason: "the network has \(classifier.channelCount) output channels, the plan lists \(plan.outputs.count)",
                               remedy: "use the plan.json that came with the model's weights")
        }
        self.plan = plan
        self.catalog = catalog
        self.classifier = classifier
        self.settings = settings
    }

    /// A segmenter running a model folder's U-Net.
    public convenience init(model: ModelFolder, catalog: LabelCatalog, settings: SegmentationSettings = .init(),
                            threadCount: Int? = nil) throws(ImagingError) {
        let net = try model.loadNetwork(threadCount: threadCount)
        try self.init(plan: model.plan, classifier: UNetClassifier(network: net), catalog: catalog, settings: settings)
    }

    /// Output channels the argmax may choose for `region`: background, then the plan's region
    /// class ids in order.
    public func allowedChannels(for region: Region) throws(ImagingError) -> [Int] {
        guard let regionPlan = plan.regions[region.rawValue] else {
            throw ImagingError(.regionNotInModel, input: "plan.json",
                               reason: "the model has no plan for region \(region.rawValue) (it covers \(plan.regions.keys.sorted().joined(separator: ", ")))",
                               remedy: "use a model trained for this region, or drop the scan into the right inbox")
        }
        var channels = [0]
        for id in regionPlan.classIDs where id != 0 {
            if let c = plan.channel(ofID: id), !channels.contains(c) { channels.append(c) }
        }
        return channels
    }

    /// Segments `image` (any orientation, native grid) as a scan of `region`. The network sees
    /// each profile slice whole (`WindowPolicy.covering`); `input` names the scan in a refusal.
    public func segment(_ image: ImageVolume, region: Region, input: String = "the scan") throws(ImagingError) -> SegmentationResult {
        precondition(settings.batchSize >= 1, "batch size must be at least 1")
        var timings: [StageTiming] = []
        var clock = DispatchTime.now().uptimeNanoseconds
        func lap(_ stage: String) {
            let now = DispatchTime.now().uptimeNanoseconds
            timings.append(StageTiming(stage: stage, seconds: Double(now - clock) / 1e9))
            clock = now
        }
        let channels = try allowedChannels(for: region)
        let ids = channels.map { Int32(plan.outputs[$0].id) }
        let prepared = try Preprocessor.prepare(image, plan: plan, region: region,
                                                window: .covering(maxPixels: settings.maxWindowPixels), input: input)
        lap("preprocess")
        // The reference stages take the full softmax; the fast ones store pixels deep inside a
        // decided region one-hot (same labels, `SliceInference.settleInterior`).
        let probs = SliceInference.run(prepared, classifier: classifier, allowedChannels: channels, channelIDs: ids,
                                       batchSize: settings.batchSize, oneHotInterior: useReferenceStages ? nil : prepared.transform)
        lap("inference")
        var labels = useReferenceStages
            ? NativeArgmax.fusedReference(probs, window: prepared.window, transform: prepared.transform)
            : NativeArgmax.labels(probs, window: prepared.window, transform: prepared.transform)
        lap("to_native")
        let removed = useReferenceStages ? settings.islands.referenceApply(to: &labels) : settings.islands.apply(to: &labels)
        lap("postprocess")
        return SegmentationResult(labels: labels, region: region, transform: prepared.transform, window: prepared.window,
                                  allowedIDs: ids.map(Int.init), removed: removed, timings: timings)
    }
}
