import ImagingCore

extension ImagingError.Code {
    /// A resample profile has a spacing that is not a positive finite number.
    public static let badProfile = Self("bad_profile")
    /// A stored `ProfileTransform` has a version this build does not read.
    public static let unsupportedTransformVersion = Self("unsupported_transform_version")
    /// The scan's field of view at the profile's spacing would need an implausibly large grid
    /// (usually a wrong pixel spacing in the header).
    public static let profileTooLarge = Self("profile_too_large")
}

/// The standard grid spacing a region's scans are resampled to before segmentation.
///
/// In-plane means the canonical R and A axes; slices are the canonical S axis. With
/// `sliceSpacing == nil` the slices are kept exactly as acquired.
public struct ResampleProfile: Codable, Equatable, Hashable, Sendable {
    /// Target spacing in mm along canonical R and A.
    public var inPlaneSpacing: Double
    /// Target spacing in mm along canonical S, or `nil` to keep the native slices.
    public var sliceSpacing: Double?

    public init(inPlaneSpacing: Double, sliceSpacing: Double? = nil) {
        self.inPlaneSpacing = inPlaneSpacing
        self.sliceSpacing = sliceSpacing
    }

    /// Thigh: 0.78 mm in-plane, native slices.
    public static let thigh = ResampleProfile(inPlaneSpacing: 0.78)
    /// Calf: 0.54 mm in-plane, native slices.
    public static let calf = ResampleProfile(inPlaneSpacing: 0.54)
    /// Abdomen: 1.5 mm in-plane and 3.5 mm slices.
    public static let abdomen = ResampleProfile(inPlaneSpacing: 1.5, sliceSpacing: 3.5)

    /// Throws `bad_profile` unless every spacing is a positive finite number.
    public func validate() throws(ImagingError) {
        let ok = { (s: Double) in s.isFinite && s > 0 }
        guard ok(inPlaneSpacing), sliceSpacing.map(ok) ?? true else {
            throw ImagingError(.badProfile, input: "resample profile",
                               reason: "spacing must be a positive number of mm (in-plane \(inPlaneSpacing), slice \(sliceSpacing.map { "\($0)" } ?? "kept"))",
                               remedy: "fix the region's profile in the configuration")
        }
    }

    /// Largest profile grid side, in voxels (a 4096-voxel side is 3 m at 0.78 mm).
    public static let maxAxisVoxels = 4096
    /// Largest profile grid, in voxels (2^28: 1 GiB as Float).
    public static let maxGridVoxels = 1 << 28

    /// Throws `profile_too_large` when the profile grid covering `canonical`'s field of view would
    /// exceed `maxAxisVoxels` along an axis or `maxGridVoxels` in all: a header with a wrong
    /// spacing (metres for millimetres) must fail with a reason, not exhaust memory. Works in
    /// Double, so no size is converted to Int before it is known to fit.
    /// `canonical` is a canonical (RAS) grid, as for `grid(covering:)`; `input` names the scan in
    /// the refusal.
    public func checkSize(covering canonical: Grid, input: String = "the scan") throws(ImagingError) {
        var sizes: [Double] = []
        for axis in 0..<3 {
            let n = Double(canonical.shape[axis])
            if let target = axis < 2 ? inPlaneSpacing : sliceSpacing {
                sizes.append(max(1, (n * canonical.affine.column(axis).length / target - 1e-6).rounded(.up)))
            } else {
                sizes.append(n)
            }
        }
        let total = sizes.reduce(1, *)
        guard sizes.allSatisfy({ $0.isFinite && $0 <= Double(Self.maxAxisVoxels) }), total <= Double(Self.maxGridVoxels) else {
            let fov = (0..<3).map { Double(canonical.shape[$0]) * canonical.affine.column($0).length }
            let mm = fov.map { $0 < 1e15 ? String(Int($0.rounded())) : $0.description }.joined(separator: " × ")
            let vox = sizes.map { $0 < 1e15 ? String(Int($0)) : $0.description }.joined(separator: " × ")
            throw ImagingError(.profileTooLarge, input: input,
                               reason: "the field of view is \(mm) mm, which at the region's profile spacing needs a \(vox) voxel grid (at most \(Self.maxAxisVoxels) per axis and \(Self.maxGridVoxels) in all)",
                               remedy: "check the pixel spacing and slice thickness in the scan's header (metres written as millimetres?) and that the scan is one thigh, calf or abdomen")
        }
    }

    /// The profile grid covering the same field of view as a canonical grid.
    ///
    /// Each resampled axis keeps its direction and the physical extent of the field of view
    /// (`n * spacing`, edge to edge of the outer voxels) with the same centre: its size is
    /// `ceil(n * spacing / target - 1e-6)` (at least 1; the 1e-6 absorbs rounding, e.g.
    /// 512 × 0.78 / 0.78) and its centre voxel position equals the source's. A kept axis
    /// keeps its column and voxel positions exactly.
    public func grid(covering canonical: Grid) -> Grid {
        let a = canonical.affine
        var shape = canonical.shape
        var columns = (0..<3).map { a.column($0) }
        var origin = a.origin
        for axis in 0..<3 {
            guard let target = axis < 2 ? inPlaneSpacing : sliceSpacing else { continue }
            let n = canonical.shape[axis]
            let spacing = columns[axis].length
            let m = max(1, Int((Double(n) * spacing / target - 1e-6).rounded(.up)))
            let column = columns[axis] / spacing * target
            // Same centre: old centre offset (n-1)/2 * old column, new (m-1)/2 * new column.
            let oldHalf: SIMD3<Double> = columns[axis] * (Double(n - 1) / 2)
            let newHalf: SIMD3<Double> = column * (Double(m - 1) / 2)
            origin += oldHalf - newHalf
            columns[axis] = column
            shape[axis] = m
        }
        return Grid(shape: shape, affine: Affine(columns: columns[0], columns[1], columns[2], origin: origin))
    }
}

/// The record of one native -> profile resampling, enough to bring results back to the exact
/// native grid (STYLE 12). Stored as JSON beside a job's intermediate results.
///
/// Forward: reorient to canonical RAS (lossless), then resample onto `targetGrid`.
/// Back: resample from `targetGrid` directly onto `sourceGrid`. Reorientation keeps every
/// voxel's world position, so this one pass samples the same points as "resample onto the
/// canonical grid, then invert the reorientation", and its result carries `sourceGrid` itself.
public struct ProfileTransform: Equatable, Sendable, Codable {
    /// The record format this build writes and reads.
    public static let currentVersion = 1

    /// Record format version (1).
    public var version: Int
    public var profile: ResampleProfile
    /// The native grid of the scan.
    public var sourceGrid: Grid
    /// Native -> canonical RAS reorientation.
    public var reorientation: Reorientation
    /// The profile grid (canonical orientation, profile spacing).
    public var targetGrid: Grid

    /// Plans the resampling of volumes on `sourceGrid` to `profile`.
    /// Throws `bad_geometry` for a non-finite or singular affine, `bad_profile` for a bad profile,
    /// `profile_too_large` for a field of view the profile cannot hold; `input` names the scan.
    public init(source sourceGrid: Grid, profile: ResampleProfile, input: String = "the scan") throws(ImagingError) {
        guard sourceGrid.affine.isValid else {
            throw ImagingError(.badGeometry, input: input,
                               reason: "the voxel-to-world affine is not finite and invertible",
                               remedy: "check the scan's orientation header (qform/sform or DICOM orientation)")
        }
        try profile.validate()
        reorientation = Reorientation(canonicalizing: sourceGrid)
        try profile.checkSize(covering: reorientation.canonicalGrid, input: input)
        version = Self.currentVersion
        self.profile = profile
        self.sourceGrid = sourceGrid
        targetGrid = profile.grid(covering: reorientation.canonicalGrid)
    }

    /// Brings an image on the native grid to the profile grid (trilinear). The native volume is
    /// read in place through the reorientation (`resample(_:reorientedBy:onto:fill:)`): the values
    /// of `referenceToProfile`, bit for bit, without its reoriented copy.
    public func toProfile(_ image: ImageVolume, fill: Float = 0) -> ImageVolume {
        resample(image, reorientedBy: reorientation, onto: targetGrid, fill: fill)
    }

    /// The reference twin of `toProfile(_ image:)`: reorient (a copy), then resample.
    public func referenceToProfile(_ image: ImageVolume, fill: Float = 0) -> ImageVolume {
        resample(reorientation.apply(image), onto: targetGrid, fill: fill)
    }

    /// Brings a label map on the native grid to the profile grid (nearest, e.g. training labels).
    public func toProfile(_ labels: LabelVolume, fill: Int32 = 0) -> LabelVolume {
        resample(reorientation.apply(labels), onto: targetGrid, fill: fill)
    }

    /// Brings a label map on the profile grid back to the exact native grid (nearest).
    public func toNative(_ labels: LabelVolume, fill: Int32 = 0) -> LabelVolume {
        precondition(labels.shape == targetGrid.shape, "ProfileTransform.toNative: labels are not on the profile grid")
        return resample(Volume(grid: targetGrid, data: labels.data), onto: sourceGrid, fill: fill)
    }

    /// Brings probability channels on the profile grid back to the exact native grid (trilinear,
    /// same weights for every channel; the argmax is the caller's). Every native voxel centre lies
    /// inside the profile grid's extent, so no native voxel receives `fill`.
    public func toNative(_ channels: ChannelVolume, fill: [Float]? = nil) -> ChannelVolume {
        precondition(channels.grid.shape == targetGrid.shape, "ProfileTransform.toNative: channels are not on the profile grid")
        let onTarget = ChannelVolume(grid: targetGrid, channelCount: channels.channelCount, data: channels.data)
        return resample(onTarget, onto: sourceGrid, fill: fill)
    }

    /// Brings an image on the profile grid back to the exact native grid (trilinear).
    public func toNative(_ image: ImageVolume, fill: Float = 0) -> ImageVolume {
        precondition(image.shape == targetGrid.shape, "ProfileTransform.toNative: image is not on the profile grid")
        return resample(Volume(grid: targetGrid, data: image.data), onto: sourceGrid, fill: fill)
    }

    private enum CodingKeys: String, CodingKey {
        case version, profile, sourceGrid, reorientation, targetGrid
    }

    /// Decodes a record, throwing `unsupported_transform_version` for any version but 1.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decode(Int.self, forKey: .version)
        guard version == Self.currentVersion else {
            throw ImagingError(.unsupportedTransformVersion, input: "profile transform record",
                               reason: "record version \(version) is not \(Self.currentVersion)",
                               remedy: "re-run the job with this segvol version")
        }
        profile = try c.decode(ResampleProfile.self, forKey: .profile)
        sourceGrid = try c.decode(Grid.self, forKey: .sourceGrid)
        reorientation = try c.decode(Reorientation.self, forKey: .reorientation)
        targetGrid = try c.decode(Grid.self, forKey: .targetGrid)
    }
}

/// Resamples an image to a region profile: canonical RAS reorientation, then trilinear
/// resampling onto the profile grid covering the same field of view (`ResampleProfile.grid`).
/// Returns the record that brings results back to the native grid. This is the call to time.
public func toProfile(_ image: ImageVolume, profile: ResampleProfile, fill: Float = 0, input: String = "the scan")
    throws(ImagingError) -> (ImageVolume, ProfileTransform)
{
    let t = try ProfileTransform(source: image.grid, profile: profile, input: input)
    return (t.toProfile(image, fill: fill), t)
}

/// Resamples a label map to a region profile (nearest), returning the inverse record.
public func toProfile(_ labels: LabelVolume, profile: ResampleProfile) throws(ImagingError)
    -> (LabelVolume, ProfileTransform)
{
    let t = try ProfileTransform(source: labels.grid, profile: profile)
    return (t.toProfile(labels), t)
}
