import ImagingCore

/// NIfTI-specific refusal codes (docs/nifti.md lists them with one sentence each).
/// Shared codes used as well: `not_found`, `unreadable`, `truncated`, `too_large`,
/// `unsupported_format`, `bad_geometry`, `write_failed`.
extension ImagingError.Code {
    /// `sizeof_hdr` is neither 348 (NIfTI-1) nor 540 (NIfTI-2) in either byte order.
    public static let niftiBadHeaderSize = Self("nifti_bad_header_size")
    /// The magic string is not `n+1`/`n+2` (two-file `.hdr/.img` pairs and ANALYZE are refused).
    public static let niftiBadMagic = Self("nifti_bad_magic")
    /// `dim[0]` is outside 1...7.
    public static let niftiBadDimCount = Self("nifti_bad_dim_count")
    /// A used dimension `dim[1...dim[0]]` is zero or negative.
    public static let niftiBadDim = Self("nifti_bad_dim")
    /// `vox_offset` is NaN, infinite, negative, inside the header, or past the end of the file.
    public static let niftiBadVoxOffset = Self("nifti_bad_vox_offset")
    /// The datatype is not one of uint8, int8, int16, uint16, int32, uint32, float32, float64.
    public static let niftiUnsupportedDatatype = Self("nifti_unsupported_datatype")
    /// `scl_slope` is NaN or infinite, or the intercept is when the slope is in use.
    public static let niftiBadScaling = Self("nifti_bad_scaling")
    /// The gzip stream inflates to more than the configured cap (a gzip bomb or a huge file).
    public static let niftiGzipTooLarge = Self("nifti_gzip_too_large")
    /// The file is named `.gz` but is not gzip, or its gzip stream is corrupt, cut short or fails its CRC.
    public static let niftiCorruptGzip = Self("nifti_corrupt_gzip")
    /// `volumeIndex` is outside the volumes the file holds.
    public static let niftiVolumeOutOfRange = Self("nifti_volume_out_of_range")
    /// A label map holds a value that is not an integer in Int32 range (after scaling).
    public static let niftiNonIntegralLabel = Self("nifti_non_integral_label")
    /// A label map to write has ids that the chosen datatype cannot hold.
    public static let niftiLabelOutOfRange = Self("nifti_label_out_of_range")
}

extension ImagingError {
    /// A header refusal with the standard remedy for a damaged or hostile file.
    static func badHeader(_ code: Code, _ input: String, _ reason: String) -> ImagingError {
        ImagingError(code, input: input, reason: reason,
                     remedy: "Re-export the file with a standard tool (dcm2niix, nibabel) or check that it was copied completely.")
    }
}
