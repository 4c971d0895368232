import Anatomy
import ImagingCore

/// What to generate. Everything not given is drawn from the seed.
public struct PhantomRequest: Sendable, Codable, Equatable {
    public var region: Region
    /// The subject: anatomy, sizes and fat infiltration.
    public var seed: UInt64
    /// The visit (1-based): acquisition, pose and noise; after visit 1 also a small change of fat.
    public var visit: Int
    /// Both limbs in the field of view (thigh and calf only).
    public var bilateral: Bool
    /// In-plane matrix [nx, ny]; the spacing then follows from the anatomy's size.
    public var matrix: [Int]?
    public var slices: Int?
    /// In-plane spacing (mm).
    public var spacing: Double?
    public var sliceThickness: Double?
    /// Force an oblique (true) or a straight (false) affine.
    public var oblique: Bool?
    /// Rays per cross-section for the exact volumes (docs/phantoms.md gives the error).
    public var rays: Int

    public init(region: Region, seed: UInt64, visit: Int = 1, bilateral: Bool = false, matrix: [Int]? = nil,
                slices: Int? = nil, spacing: Double? = nil, sliceThickness: Double? = nil, oblique: Bool? = nil,
                rays: Int = 2048) {
        self.region = region
        self.seed = seed
        self.visit = visit
        self.bilateral = bilateral
        self.matrix = matrix
        self.slices = slices
        self.spacing = spacing
        self.sliceThickness = sliceThickness
        self.oblique = oblique
        self.rays = rays
    }

    /// The pseudonymous subject id every visit of this seed shares.
    public var subject: String { "phantom-\(region.rawValue)-\(seed)" }
}

/// A generated scan with its exact ground truth.
public struct Phantom: Sendable {
    public var request: PhantomRequest
    /// T1-weighted MR (thigh, calf; positive integers) or CT in HU (abdomen; integers ≥ -1024).
    public var image: ImageVolume
    /// Catalog ids at voxel centres (the full annotation; see `PhantomDataset` for partial ones).
    public var labels: LabelVolume
    public var metadata: ScanMetadata
    public var truth: PhantomTruth
}

/// The exact ground truth of a phantom, written as `truth.json` (docs/formats.md).
public struct PhantomTruth: Sendable, Codable, Equatable {
    public var format = "segvol-phantom-truth"
    public var version = 1
    public var subject: String
    public var visit: Int
    public var region: Region
    public var seed: UInt64
    public var parameters: Parameters
    /// Volume of one voxel (mm³).
    public var voxelVolumeMM3: Double
    public var classes: [ClassTruth]

    /// What was drawn for this scan.
    public struct Parameters: Sendable, Codable, Equatable {
        public var shape: [Int]
        public var spacingMM: Double
        public var sliceThicknessMM: Double
        public var axisCodes: String
        public var obliqueDegrees: Double
        public var bilateral: Bool
        public var sides: [Side]
        /// Length of the modelled limb or trunk segment (mm) and the covered fraction [t0, t1].
        public var segmentLengthMM: Double
        public var coveredFraction: [Double]
        public var subcutaneousFatMM: Double
        public var fatInfiltration: Double
        public var intensityScale: Double
        public var noiseSigma: Double
        public var modality: String
        /// Rays per section and Gauss–Legendre nodes per slice of the exact integration.
        public var rays: Int
        public var nodesPerSlice: Int
    }

    /// One class's volumes.
    public struct ClassTruth: Sendable, Codable, Equatable {
        public var id: Int
        public var name: String
        /// Volume of the continuous shape inside the scanned slab (mL).
        public var exactML: Double
        /// Voxel count × voxel volume of the label map (mL).
        public var voxelML: Double
        public var voxelCount: Int
        /// Voxels whose 6-neighbourhood straddles this class's boundary.
        public var boundaryVoxels: Int
        /// (0.5 × boundaryVoxels + 1) × voxel volume (mL): the partial-volume bound on
        /// |voxelML - exactML| (derivation in docs/phantoms.md).
        public var partialVolumeBoundML: Double
        /// Exact volume per limb (bilateral scans; single limbs list their one side).
        public var exactMLBySide: [String: Double]?
    }

    /// The entry for a class name.
    public func `class`(_ name: String) -> ClassTruth? { classes.first { $0.name == name } }
}
