import ImagingCore

/// Converts an affine from DICOM patient coordinates to segvol's RAS+ patient space.
///
/// DICOM's Reference Coordinate System (PS3.3 C.7.6.2.1.1, "Image Position and Image
/// Orientation") is LPS+: x increases towards the patient's Left, y towards Posterior, z towards
/// Head (Superior). RAS+ (NIfTI, segvol) negates x and y. This is the only place in segvol where
/// that sign change happens: `RAS = diag(-1, -1, 1, 1) · LPS`.
public func patientLPSToRAS(_ lps: Affine) -> Affine {
    let flip = Affine(rows: [[-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    return flip * lps
}

/// The voxel-to-LPS affine of a sorted stack, following PS3.3 C.7.6.2.1.1 (Equation C.7.6.2.1-1):
/// the centre of pixel (column i, row j) of a slice is `IPP + i·Δc·rowCosine + j·Δr·columnCosine`,
/// with `PixelSpacing = [Δr (between rows), Δc (between columns)]`; index k steps by `sliceStep`
/// (the measured position difference between consecutive sorted slices).
func stackAffineLPS(first: SIMD3<Double>, rowCosine: SIMD3<Double>, columnCosine: SIMD3<Double>,
                    pixelSpacing: [Double], sliceStep: SIMD3<Double>) -> Affine {
    Affine(columns: rowCosine * pixelSpacing[1], columnCosine * pixelSpacing[0], sliceStep, origin: first)
}

/// A short, PHI-free name of the plane a slice normal describes (for series labels).
func planeName(normal: SIMD3<Double>) -> String {
    let a = [abs(normal.x), abs(normal.y), abs(normal.z)]
    let m = a.max() ?? 0
    let name = a[2] == m ? "axial" : a[1] == m ? "coronal" : "sagittal"
    return m > 0.999 ? name : "oblique-\(name)"
}
