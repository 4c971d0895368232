import ImagingCore

/// TEMPORARY until the DICOM reader lands: the one LPS↔RAS conversion (negate x and y).
func patientLPSToRAS(_ p: SIMD3<Double>) -> SIMD3<Double> { SIMD3(-p.x, -p.y, p.z) }
