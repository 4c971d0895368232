internal import CDCMTK
import Foundation
import ImagingCore

/// DICOM transfer syntaxes segvol can write (all lossless).
public enum DICOMTransferSyntax: String, CaseIterable, Sendable {
    case explicitLittleEndian = "1.2.840.10008.1.2.1"
    case implicitLittleEndian = "1.2.840.10008.1.2"
    case explicitBigEndian = "1.2.840.10008.1.2.2"
    case deflatedLittleEndian = "1.2.840.10008.1.2.1.99"
    case rle = "1.2.840.10008.1.2.5"
    case jpegLossless = "1.2.840.10008.1.2.4.70"
    case jpegLS = "1.2.840.10008.1.2.4.80"

    /// Short name used on the command line.
    public var name: String {
        switch self {
        case .explicitLittleEndian: "explicit-le"
        case .implicitLittleEndian: "implicit-le"
        case .explicitBigEndian: "big-endian"
        case .deflatedLittleEndian: "deflate"
        case .rle: "rle"
        case .jpegLossless: "jpeg-lossless"
        case .jpegLS: "jpeg-ls"
        }
    }

    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }
}

/// Writes a volume as a single-frame DICOM series through DCMTK (one file per slice `k`).
///
/// The in-plane index axes become DICOM's row (i) and column (j) directions, so they must be
/// orthogonal; slices may be oblique. Stored values are `round((v - intercept) / slope)` in
/// 16 bits, signed when `intercept < 0` or any value is negative.
public enum DICOMSeriesWriter {
    public struct Options: Sendable {
        public var transferSyntax: DICOMTransferSyntax = .explicitLittleEndian
        public var rescaleSlope: Double = 1
        public var rescaleIntercept: Double = 0
        /// SeriesNumber when the metadata has none.
        public var seriesNumber: Int = 1
        public init() {}
    }

    /// Writes `volume` into `directory` (created if missing) as `IM0001.dcm`…; returns the paths.
    @discardableResult
    public static func write(_ volume: ImageVolume, metadata: ScanMetadata, to directory: String,
                             options: Options = Options()) throws -> [String] {
        let grid = volume.grid
        let d = grid.affine.directions
        guard abs(d[0].dot(d[1])) < 1e-4 else {
            throw ImagingError(.badGeometry, input: directory,
                               reason: "the in-plane axes are not orthogonal, which DICOM cannot store",
                               remedy: "resample the volume onto an orthogonal grid first")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let nx = grid.shape[0], ny = grid.shape[1], nz = grid.shape[2]
        let stored = volume.data.map { (Double($0) - options.rescaleIntercept) / options.rescaleSlope }
        let signed = stored.contains { $0 < 0 }
        let lo = signed ? Double(Int16.min) : 0, hi = signed ? Double(Int16.max) : Double(UInt16.max)

        let study = metadata.studyInstanceUID ?? newUID()
        let series = metadata.seriesInstanceUID ?? newUID()
        // With a caller-given series UID every other UID derives from it (components appended
        // under the series' own root), so the same volume and metadata give the same bytes.
        let derive = metadata.seriesInstanceUID != nil && series.count <= 58
        let frame = derive ? series + ".0" : newUID()
        // DICOM stores LPS; the row direction is the i axis, the column direction the j axis.
        // LPS↔RAS is an involution, so the one conversion function serves both ways.
        let lps = patientLPSToRAS(grid.affine)
        let row = lps.directions[0], col = lps.directions[1]
        let spacing = grid.spacing
        var paths: [String] = []
        var pixels = [UInt16](repeating: 0, count: nx * ny)
        for k in 0..<nz {
            for n in 0..<(nx * ny) {
                let v = min(max(stored[k * nx * ny + n].rounded(), lo), hi)
                pixels[n] = signed ? UInt16(bitPattern: Int16(v)) : UInt16(v)
            }
            let position = lps.apply(SIMD3(0, 0, Double(k)))
            let path = directory + "/" + String(format: "IM%04d.dcm", k + 1)
            let instance = derive ? "\(series).\(k + 1)" : newUID()
            try withCStrings([metadata.modality ?? "MR", study, series, frame, metadata.patientID ?? "",
                              metadata.studyDate ?? "", metadata.seriesDescription ?? "",
                              metadata.bodyPartExamined ?? "", metadata.manufacturer ?? "segvol",
                              options.transferSyntax.rawValue, instance]) { s in
                var slice = segvol_dcm_slice()
                slice.modality = s[0]; slice.study_uid = s[1]; slice.series_uid = s[2]
                slice.frame_of_reference_uid = s[3]; slice.patient_id = s[4]; slice.patient_name = s[4]
                slice.study_date = s[5]; slice.series_description = s[6]; slice.body_part = s[7]
                slice.manufacturer = s[8]; slice.transfer_syntax = s[9]; slice.sop_instance_uid = s[10]
                slice.series_number = Int32(metadata.seriesNumber ?? options.seriesNumber)
                slice.instance_number = Int32(k + 1)
                slice.rows = Int32(ny); slice.columns = Int32(nx)
                slice.pixel_spacing = (spacing.y, spacing.x)
                slice.slice_thickness = spacing.z
                slice.position = (position.x, position.y, position.z)
                slice.orientation = (row.x, row.y, row.z, col.x, col.y, col.z)
                slice.rescale_slope = options.rescaleSlope
                slice.rescale_intercept = options.rescaleIntercept
                slice.pixel_signed = signed ? 1 : 0
                var err = [CChar](repeating: 0, count: 512)
                let rc = segvol_dcm_write_slice(path, &slice, pixels, &err, err.count)
                if rc != 0 {
                    throw ImagingError(.writeFailed, input: path, reason: cString(err),
                                       remedy: "check free space and permissions of the output folder")
                }
            }
            paths.append(path)
        }
        return paths
    }

    /// A new DICOM UID under DCMTK's registered root.
    public static func newUID() -> String {
        var buf = [CChar](repeating: 0, count: 80)
        segvol_dcm_new_uid(&buf, buf.count)
        return cString(buf)
    }
}

/// Calls `body` with C strings that stay valid for the duration of the call.
func withCStrings<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>]) throws -> R) rethrows -> R {
    let copies = strings.map { strdup($0)! }
    defer { copies.forEach { free($0) } }
    return try body(copies.map { UnsafePointer($0) })
}

/// The text of a NUL-terminated C buffer.
func cString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
