import Anatomy
import ImagingCore
import Resampling

/// `plan.json` of a model folder: everything needed to turn a scan into network input and the
/// network's output back into catalog labels. Versioned; a reader refuses a newer version.
///
/// A model folder holds `plan.json`, `weights.safetensors` (tensor names as docs/unet_pytorch.md),
/// `metrics.json` and `MODEL.md` (docs/formats.md describes each).
public struct ModelPlan: Codable, Equatable, Sendable {
    public static let currentVersion = 1

    public var format = "segvol-model-plan"
    public var version = ModelPlan.currentVersion
    /// The network: a batch-norm 2D U-Net (NeuralEngine.UNetConfig's fields).
    public var architecture: Architecture
    /// Network input height and width in pixels: each profile-resampled axial slice is centre-
    /// cropped or zero-padded (after normalisation) to this size, and the output is un-padded.
    public var inputSize: [Int]
    /// Output channels in order: channel 0 is background (id 0), then catalog classes.
    public var outputs: [OutputClass]
    /// Per region: resampling profile, intensity normalisation, and the catalog ids the argmax
    /// may choose for a scan of that region (background is always allowed).
    public var regions: [String: RegionPlan]
    /// The training loss, as its config string (e.g. `xent_plus + dice_log`).
    public var loss: String

    public init(architecture: Architecture, inputSize: [Int], outputs: [OutputClass], regions: [String: RegionPlan], loss: String) {
        self.architecture = architecture
        self.inputSize = inputSize
        self.outputs = outputs
        self.regions = regions
        self.loss = loss
    }

    public struct Architecture: Codable, Equatable, Sendable {
        public var kind = "unet2d-bn"
        public var inChannels: Int
        public var baseWidth: Int
        public var depth: Int
        public init(inChannels: Int = 1, baseWidth: Int, depth: Int) {
            self.inChannels = inChannels
            self.baseWidth = baseWidth
            self.depth = depth
        }
    }

    public struct OutputClass: Codable, Equatable, Sendable {
        /// Catalog id (0 = background).
        public var id: Int
        /// Catalog name, kept so a plan can be checked against the catalog it is used with.
        public var name: String
        public init(id: Int, name: String) {
            self.id = id
            self.name = name
        }
    }

    public struct RegionPlan: Codable, Equatable, Sendable {
        public var profile: ResampleProfile
        public var normalization: Normalization
        /// Catalog ids allowed at inference for this region.
        public var classIDs: [Int]
        public init(profile: ResampleProfile, normalization: Normalization, classIDs: [Int]) {
            self.profile = profile
            self.normalization = normalization
            self.classIDs = classIDs
        }
    }

    /// The output channel of a catalog id, if the model has one.
    public func channel(ofID id: Int) -> Int? { outputs.firstIndex { $0.id == id } }

    /// Checks internal consistency and agreement with `catalog`: background first, every output
    /// a catalog class with the same name, unique ids, region class ids among the outputs, an
    /// input size divisible by 2^depth. Errors name the offending entry.
    public func validate(against catalog: LabelCatalog, source: String = "plan.json") throws(ImagingError) {
        func fail(_ reason: String) -> ImagingError {
            ImagingError(.planInvalid, input: source, reason: reason,
                         remedy: "Use the plan.json that came with the model's weights, or retrain the model for this catalog.")
        }
        guard format == "segvol-model-plan" else { throw fail("format is '\(format)', not segvol-model-plan") }
        guard version <= ModelPlan.currentVersion else {
            throw fail("plan version \(version) is newer than this segvol reads (\(ModelPlan.currentVersion))")
        }
        guard outputs.first?.id == 0 else { throw fail("output channel 0 must be background (id 0)") }
        guard Set(outputs.map(\.id)).count == outputs.count else { throw fail("an output id appears twice") }
        for out in outputs.dropFirst() {
            guard let c = catalog.class(id: out.id) else { throw fail("output id \(out.id) (\(out.name)) is not in the label catalog") }
            guard c.name == out.name else {
                throw fail("output id \(out.id) is '\(out.name)' in the plan but '\(c.name)' in the catalog")
            }
        }
        let factor = 1 << architecture.depth
        guard inputSize.count == 2, inputSize.allSatisfy({ $0 >= factor && $0 % factor == 0 }) else {
            throw fail("inputSize \(inputSize) must be two sizes divisible by 2^depth = \(factor)")
        }
        guard architecture.inChannels >= 1, architecture.baseWidth >= 1, architecture.depth >= 1 else {
            throw fail("architecture sizes must be positive")
        }
        for (name, region) in regions {
            guard Region(rawValue: name) != nil else { throw fail("unknown region '\(name)'") }
            for id in region.classIDs where channel(ofID: id) == nil {
                throw fail("region \(name) allows id \(id), which the model does not output")
            }
            do { try region.profile.validate() } catch { throw fail("region \(name): \(error.reason)") }
        }
    }
}

/// How intensities become network input (in [0, 1] after clipping).
public struct Normalization: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        /// MR: the `low` and `high` percentiles of the scan's non-zero voxels map to 0 and 1.
        case percentile
        /// CT: the fixed window [`low`, `high`] (HU) maps to 0 and 1.
        case window
    }
    public var kind: Kind
    public var low: Double
    public var high: Double

    public init(kind: Kind, low: Double, high: Double) {
        self.kind = kind
        self.low = low
        self.high = high
    }

    /// MR default: 0.5th to 99.5th percentile.
    public static let mr = Normalization(kind: .percentile, low: 0.5, high: 99.5)
    /// CT default: a soft-tissue-and-fat window.
    public static let ct = Normalization(kind: .window, low: -250, high: 350)
}

extension ImagingError.Code {
    /// A model's plan.json is inconsistent or does not match the label catalog.
    public static let planInvalid = Self("plan_invalid")
}
