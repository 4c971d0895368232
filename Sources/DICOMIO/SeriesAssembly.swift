import Foundation
import ImagingCore

/// A series ready for pixel decoding: slices in spatial order and the RAS affine.
struct AssembledSeries: Sendable {
    /// Slices sorted by their position along the slice normal (never file order).
    var slices: [DICOMSlice]
    /// Voxel (i = column, j = row, k = sorted slice index) → RAS mm at voxel centres.
    var affine: Affine
    var warnings: [String]
}

/// Tolerances of the geometry checks; docs/dicom.md justifies each.
enum GeometryTolerance {
    /// Direction cosines that differ by less than this belong to one orientation (DS values
    /// carry ≥ 6 significant digits; scanners repeat the same IOP in every slice).
    static let orientation = 1e-3
    /// Two slices closer than this (mm) along the normal are at the same position.
    static let samePosition = 1e-2
    /// A gap may differ from the mean gap by this fraction of it, or 0.01 mm, whichever is
    /// larger, before the spacing is non-uniform (positions are stored to ≈ 1e-5 mm).
    static let relativeGap = 0.01
    static let absoluteGap = 0.01
    /// The stack may drift sideways (perpendicular to the normal) by this fraction of the
    /// smallest pixel spacing over its whole extent before it is gantry tilt.
    static let lateralDriftPixels = 0.1
}

enum SeriesAssembly {
    /// Groups slices into candidate volumes: by SeriesInstanceUID, then by matrix size, echo,
    /// ImageType and orientation (a series that mixes them, e.g. localizers or two planes, is
    /// split). Groups are ordered by their first (sorted) file path, so the result is stable.
    static func group(_ slices: [DICOMSlice]) -> [[DICOMSlice]] {
        struct Key: Hashable { var uid: String; var rows: Int; var columns: Int; var echo: String; var type: String }
        var byKey: [Key: [DICOMSlice]] = [:]
        for s in slices {
            let key = Key(uid: s.seriesInstanceUID, rows: s.rows, columns: s.columns, echo: s.echo,
                          type: s.imageType.joined(separator: "\\").uppercased())
            byKey[key, default: []].append(s)
        }
        var groups: [[DICOMSlice]] = []
        for (_, members) in byKey {
            var clusters: [[DICOMSlice]] = []
            for s in members {
                if let idx = clusters.firstIndex(where: { sameOrientation($0[0].orientation, s.orientation) }) {
                    clusters[idx].append(s)
                } else {
                    clusters.append([s])
                }
            }
            groups += clusters
        }
        return groups.sorted { firstKey($0) < firstKey($1) }
    }

    private static func firstKey(_ g: [DICOMSlice]) -> String {
        g.map { "\($0.path)#\($0.frame)" }.min() ?? ""
    }

    static func sameOrientation(_ a: [Double]?, _ b: [Double]?) -> Bool {
        guard let a, let b else { return a == nil && b == nil }
        return zip(a, b).allSatisfy { abs($0 - $1) < GeometryTolerance.orientation }
    }

    /// Orders one group along its slice normal and derives the affine, or says why the group
    /// is not one regular volume. `allowSingleSlice` accepts a one-slice group.
    static func assemble(_ group: [DICOMSlice], allowSingleSlice: Bool) -> Result<AssembledSeries, ImagingError> {
        precondition(!group.isEmpty, "assemble needs at least one slice")
        let input = group[0].path
        func fail(_ code: ImagingError.Code, _ reason: String, _ remedy: String) -> Result<AssembledSeries, ImagingError> {
            .failure(ImagingError(code, input: input, reason: reason, remedy: remedy))
        }
        let first = group[0]
        if first.isMosaic {
            return fail(.mosaicUnsupported, "Siemens mosaic (ImageType contains MOSAIC): slices are tiled in one image",
                        "Convert with dcm2niix, which de-mosaics, and pass the NIfTI.")
        }
        if let s = group.first(where: { $0.samplesPerPixel != 1 || !$0.photometric.hasPrefix("MONOCHROME") }) {
            return fail(.colorUnsupported,
                        "SamplesPerPixel \(s.samplesPerPixel), PhotometricInterpretation \(s.photometric): a colour image, not a scalar scan",
                        "Export the original greyscale series rather than a screenshot or fused image.")
        }
        guard group.allSatisfy({ $0.orientation != nil && $0.position != nil && $0.pixelSpacing != nil }),
              let rowCos = first.rowCosine, let colCos = first.columnCosine, let spacing = first.pixelSpacing else {
            return fail(.missingGeometry, "ImageOrientationPatient, ImagePositionPatient or PixelSpacing is missing",
                        "Export the series with patient geometry (not as secondary capture).")
        }
        guard abs(rowCos.length - 1) < 1e-2, abs(colCos.length - 1) < 1e-2, abs(rowCos.dot(colCos)) < 1e-2,
              spacing.allSatisfy({ $0 > 0 }) else {
            return fail(.badGeometry, "ImageOrientationPatient is not two orthogonal unit vectors, or PixelSpacing is not positive",
                        "The header is damaged; re-export the series.")
        }
        let format = { (s: DICOMSlice) in [s.bitsAllocated, s.bitsStored, s.highBit, s.pixelRepresentation] }
        let sameSpacing = { (s: DICOMSlice) in s.pixelSpacing.map { zip($0, spacing).allSatisfy { abs($0 - $1) <= 1e-4 } } ?? false }
        if group.contains(where: { format($0) != format(first) || !sameSpacing($0) }) {
            return fail(.inconsistentSlices, "slices disagree on pixel format (bits, signedness) or pixel spacing",
                        "The folder mixes acquisitions under one SeriesInstanceUID; separate them.")
        }
        // Normalise the cosines (some scanners store 5-6 digits) and take the normal.
        let r = rowCos / rowCos.length, c = colCos / colCos.length
        let normal = r.cross(c) / r.cross(c).length
        let sorted = group.sorted { normal.dot($0.position!) < normal.dot($1.position!) }
        let d = sorted.map { normal.dot($0.position!) }
        let n = sorted.count

        if n == 1 {
            guard allowSingleSlice else {
                return fail(.singleSlice, "the series has a single slice, not a volume",
                            "Pass the whole series; set allowSingleSlice to convert one slice.")
            }
            let thickness = first.spacingBetweenSlices ?? first.sliceThickness ?? 1
            let affine = stackAffineLPS(first: first.position!, rowCosine: r, columnCosine: c, pixelSpacing: spacing,
                                        sliceStep: normal * (thickness > 0 ? thickness : 1))
            return .success(AssembledSeries(slices: sorted, affine: patientLPSToRAS(affine),
                                            warnings: ["single slice: slice size \(thickness) mm from SpacingBetweenSlices/SliceThickness"]))
        }
        let extent = d[n - 1] - d[0]
        if extent < GeometryTolerance.samePosition {
            return fail(.notAVolume, "all \(n) images lie at the same position along the slice normal",
                        "These are repeated images (e.g. a time series or monitoring scans), not a 3-D volume.")
        }
        let gaps = (1..<n).map { d[$0] - d[$0 - 1] }
        let duplicates = gaps.filter { $0 < GeometryTolerance.samePosition }.count
        if duplicates > 0 {
            return fail(.duplicatePositions, "\(duplicates) of \(n) slices repeat a position already occupied",
                        "The series holds several volumes (time points, repeats); export one volume per series.")
        }
        let mean = extent / Double(n - 1)
        let tolerance = max(GeometryTolerance.absoluteGap, GeometryTolerance.relativeGap * mean)
        if let worst = gaps.max(by: { abs($0 - mean) < abs($1 - mean) }), abs(worst - mean) > tolerance {
            let lo = gaps.min()!, hi = gaps.max()!
            let missing = hi > 1.5 * lo ? " (looks like missing slices)" : ""
            return fail(.nonuniformSpacing,
                        "slice gaps vary from \(fmt(lo)) to \(fmt(hi)) mm along the normal (mean \(fmt(mean)) mm)\(missing)",
                        "Export the complete series; or resample it to uniform spacing before segmentation.")
        }
        let step = (sorted[n - 1].position! - sorted[0].position!) / Double(n - 1)
        let lateral = (sorted[n - 1].position! - sorted[0].position!) - normal * extent
        let drift = lateral.length
        if drift > GeometryTolerance.lateralDriftPixels * spacing.min()! {
            let angle = atan2Degrees(drift, extent)
            return fail(.gantryTilt,
                        "slice positions advance \(fmt(angle))° off the slice normal (gantry tilt); the volume would be sheared",
                        "Reconstruct without tilt, or correct the tilt (e.g. dcm2niix writes a _Tilt_ file) before segmentation.")
        }
        // Every slice must sit on the line from the first to the last (no zig-zag positions).
        let origin = sorted[0].position!
        let offLine = sorted.indices.map { k in (sorted[k].position! - origin - step * Double(k)).length }.max()!
        if offLine > max(tolerance, GeometryTolerance.lateralDriftPixels * spacing.min()!) {
            return fail(.badGeometry, "slice positions do not lie on one line (a slice is \(fmt(offLine)) mm off it)",
                        "The series mixes stacks or has corrupted positions; export one regular stack.")
        }
        var warnings: [String] = []
        if let t = first.sliceThickness, abs(t - abs(mean)) > tolerance {
            warnings.append("slice spacing \(fmt(mean)) mm from positions differs from SliceThickness \(fmt(t)) mm (overlapping or gapped slices)")
        }
        let affine = stackAffineLPS(first: sorted[0].position!, rowCosine: r, columnCosine: c, pixelSpacing: spacing,
                                    sliceStep: step)
        return .success(AssembledSeries(slices: sorted, affine: patientLPSToRAS(affine), warnings: warnings))
    }

    private static func fmt(_ v: Double) -> String { String((v * 1000).rounded() / 1000) }

    private static func atan2Degrees(_ y: Double, _ x: Double) -> Double { atan2(y, x) * 180 / Double.pi }
}
