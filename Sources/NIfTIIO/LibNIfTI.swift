internal import CNIfTI
import ImagingCore

/// Where the voxel-to-RAS affine came from.
enum AffineSource: String {
    case sform, qform, pixdim
}

/// A `nifti_image` made by libnifti from a header segvol has already checked; freed on deinit.
///
/// Why `nifti_convert_n1hdr2nim`/`nifti_convert_n2hdr2nim` on our own bytes rather than
/// `nifti_image_read`: the conversion is pure (no file access, no data allocation), so libnifti
/// does what it is good at — byte swapping, the quaternion-to-matrix maths, method 1/2/3
/// selection exactly as nifti1.h describes — while every size, offset and read stays under the
/// bounded Swift pre-check (libnifti 3.0.1 would accept vox_offset = +inf and wrap its size
/// computation on huge dims).
final class LibNIfTIImage {
    private let nim: UnsafeMutablePointer<nifti_image>

    init(header bytes: [UInt8], version: Int, input: String) throws {
        let made = bytes.withUnsafeBytes { buf in
            cnifti_header_to_image(buf.baseAddress, buf.count, Int32(version), input)
        }
        guard let made else {
            throw ImagingError.badHeader(.unsupportedFormat, input, "libnifti rejected the header after segvol's checks passed.")
        }
        nim = made
    }

    deinit { nifti_image_free(nim) }

    /// The voxel-to-RAS affine, chosen as nifti1.h prescribes (see `NIfTIReader`):
    /// sform when sform_code > 0, else qform when qform_code > 0, else pixdim scaling (method 1).
    func geometry() -> (affine: Affine, source: AffineSource) {
        var q = [Double](repeating: 0, count: 16), s = [Double](repeating: 0, count: 16)
        var qcode: Int32 = 0, scode: Int32 = 0, qfac = 0.0
        cnifti_image_transforms(nim, &q, &s, &qcode, &scode, &qfac)
        let rows: ([Double]) -> Affine = { m in Affine(rows: (0..<4).map { Array(m[(4 * $0)..<(4 * $0 + 4)]) }) }
        if scode > 0 { return (rows(s), .sform) }
        // libnifti fills qto_xyz with method 1 (diag(pixdim)) when qform_code <= 0.
        return (rows(q), qcode > 0 ? .qform : .pixdim)
    }
}

/// Quaternion parameters for a NIfTI-1 qform, from libnifti's `nifti_dmat44_to_quatern`.
/// For a non-orthogonal affine the result is the nearest rigid rotation (polar decomposition):
/// the qform then only approximates the sform, which stays exact.
struct Quatern {
    var b, c, d, x, y, z, qfac: Double
    var pixdim: SIMD3<Double>

    init(affine: Affine) {
        var out = [Double](repeating: 0, count: 10)
        cnifti_affine_to_quatern(affine.m, &out)
        (b, c, d, x, y, z) = (out[0], out[1], out[2], out[3], out[4], out[5])
        pixdim = SIMD3(out[6], out[7], out[8])
        qfac = out[9]
    }
}
