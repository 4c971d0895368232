import Foundation
import ImagingCore

/// Reads single-file NIfTI-1 and NIfTI-2 (`.nii`, `.nii.gz`, either byte order).
///
/// **Geometry** (stated once, here): the voxel-to-RAS affine is chosen exactly as nifti1.h says —
/// the sform (method 3) when `sform_code > 0`; otherwise the qform (method 2, quaternion +
/// pixdim + qfac) when `qform_code > 0`; otherwise method 1, `diag(pixdim[1], pixdim[2],
/// pixdim[3])` with origin 0. A non-orthonormal sform is kept exactly as stored. libnifti does
/// the header-to-matrix maths (see `LibNIfTIImage`); segvol picks which matrix to use.
///
/// Every read starts with a bounded pre-check of the header bytes (codes in `NIfTIErrors.swift`,
/// docs/nifti.md), so no hostile header can make segvol allocate more than the configured caps.
public enum NIfTIReader {
    /// Header fields and geometry, without decoding voxels. For `.nii` the file size is checked
    /// against the header; for `.nii.gz` only the header and extensions are inflated.
    public static func readHeader(path: String) throws -> NIfTIHeaderSummary {
        let file = try FileLoader.load(path: path, options: NIfTIReadOptions(), headerOnly: true)
        return try summary(of: file, input: path)
    }

    /// Reads one 3-D volume as Float intensities with scl_slope/scl_inter applied.
    /// A 4-D file yields volume `options.volumeIndex ?? 0`, with a warning naming it.
    public static func readImage(path: String, options: NIfTIReadOptions = .init()) throws -> Scan {
        let file = try FileLoader.load(path: path, options: options, headerOnly: false)
        let (grid, volume, warnings) = try prepare(file, input: path, options: options)
        var metadata = ScanMetadata()
        metadata.sourceFormat = "nifti-\(file.header.version)"
        let description = file.header.descrip.trimmingCharacters(in: .whitespaces)
        if !description.isEmpty { metadata.seriesDescription = description }
        let image = ImageVolume(grid: grid, data: decodeImage(file, volume: volume))
        return Scan(image: image, metadata: metadata, warnings: warnings)
    }

    /// Reads a label map: every voxel (after scaling) must be an integer, else
    /// `nifti_non_integral_label`. The label table comes from a Caret/TotalSegmentator XML header
    /// extension (see `LabelTableXML`), else from a `<name>.json` sidecar in segvol's format, else nil.
    public static func readLabels(path: String, options: NIfTIReadOptions = .init()) throws -> (LabelVolume, LabelTable?) {
        let file = try FileLoader.load(path: path, options: options, headerOnly: false)
        let (grid, volume, _) = try prepare(file, input: path, options: options)
        let labels = LabelVolume(grid: grid, data: try decodeLabels(file, volume: volume, input: path))
        let table = NIfTIExtension.parse(file).lazy.compactMap { LabelTableXML.decode($0.content) }.first
            ?? LabelSidecar.read(for: path)
        return (labels, table)
    }

    // MARK: Shared steps

    private static func geometry(_ file: LoadedNIfTI, input: String) throws -> (Affine, AffineSource) {
        let handle = try LibNIfTIImage(header: Array(file.bytes.prefix(file.header.headerSize)), version: file.header.version, input: input)
        let (affine, source) = handle.geometry()
        guard affine.isValid else {
            throw ImagingError(.badGeometry, input: input,
                               reason: "the \(source.rawValue) affine is singular or not finite, so voxels have no position.",
                               remedy: "Fix the header's sform/qform/pixdim (e.g. with nibabel) or re-export the scan.")
        }
        return (affine, source)
    }

    private static func prepare(_ file: LoadedNIfTI, input: String, options: NIfTIReadOptions) throws -> (Grid, Int, [String]) {
        let (affine, _) = try geometry(file, input: input)
        let count = file.layout.volumeCount
        let volume = options.volumeIndex ?? 0
        guard (0..<count).contains(volume) else {
            throw ImagingError(.niftiVolumeOutOfRange, input: input,
                               reason: "volume \(volume) was requested but the file holds \(count) volume(s) (0...\(count - 1)).",
                               remedy: "Pick a volume index between 0 and \(count - 1).")
        }
        var warnings: [String] = []
        if count > 1 {
            warnings.append("\(file.header.dim[0])-D file: used volume \(volume) of \(count) (0-based); set volumeIndex to pick another.")
        }
        return (Grid(shape: file.layout.shape, affine: affine), volume, warnings)
    }

    private static func summary(of file: LoadedNIfTI, input: String) throws -> NIfTIHeaderSummary {
        let (affine, source) = try geometry(file, input: input)
        let h = file.header
        let n = Int(h.dim[0])
        return NIfTIHeaderSummary(
            version: h.version, bigEndian: h.bigEndian, dims: h.dim[1...n].map { Int($0) }, datatype: h.datatypeCode,
            pixdim: Array(h.pixdim[1...n]), voxOffset: file.layout.voxOffset, scaling: file.layout.scaling,
            qformCode: h.qformCode, sformCode: h.sformCode, affine: affine, affineSource: source.rawValue,
            intentCode: h.intentCode, description: h.descrip, volumeCount: file.layout.volumeCount)
    }
}
