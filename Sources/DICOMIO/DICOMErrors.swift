import ImagingCore

/// Reason codes of the DICOM reader (docs/dicom.md explains each). Shared codes
/// (`unreadable`, `truncated`, `too_large`, `bad_geometry`) come from ImagingCore.
extension ImagingError.Code {
    /// No DICOM image file was found among the inputs.
    public static let noDICOM = Self("no_dicom")
    /// A file is not DICOM (no "DICM" magic, no plausible leading element).
    public static let notDICOM = Self("not_dicom")
    /// A DICOM object that holds no image (SEG, RTSTRUCT, SR, presentation state, DICOMDIR, ...).
    public static let nonImage = Self("non_image")
    /// A second copy of an instance already read (same SOPInstanceUID), e.g. the same image
    /// exported twice in different encodings; the first path in sorted order is kept.
    public static let duplicateInstance = Self("duplicate_instance")
    /// The pixel data is encoded in a transfer syntax segvol cannot decode; the reason names the UID.
    public static let unsupportedTransferSyntax = Self("unsupported_transfer_syntax")
    /// SamplesPerPixel > 1 (RGB, YBR): a colour image is not a scalar scan.
    public static let colorUnsupported = Self("color_unsupported")
    /// A Siemens mosaic (ImageType contains MOSAIC): slices tiled in one image are not de-mosaiced.
    public static let mosaicUnsupported = Self("mosaic_unsupported")
    /// RescaleSlope or RescaleIntercept is not a finite number.
    public static let badRescale = Self("bad_rescale")
    /// A multi-frame object without per-frame geometry (not an enhanced CT/MR image).
    public static let unsupportedMultiframe = Self("unsupported_multiframe")
    /// ImageOrientationPatient, ImagePositionPatient or PixelSpacing is absent.
    public static let missingGeometry = Self("missing_geometry")
    /// Two or more slices of one series lie at the same position (repeats, 4-D, mixed series).
    public static let duplicatePositions = Self("duplicate_positions")
    /// Gaps between consecutive slices differ (missing slices or variable increment).
    public static let nonuniformSpacing = Self("nonuniform_spacing")
    /// The slice positions advance obliquely to the slice normal (CT gantry tilt); the volume is sheared.
    public static let gantryTilt = Self("gantry_tilt")
    /// Several images but all at one position: a set of images, not a volume.
    public static let notAVolume = Self("not_a_volume")
    /// A series of one slice (refused unless `DICOMReadOptions.allowSingleSlice`).
    public static let singleSlice = Self("single_slice")
    /// Slices of one series disagree on pixel format (bits, signedness) or pixel spacing.
    public static let inconsistentSlices = Self("inconsistent_slices")
    /// The codec failed on a frame (corrupt or truncated compressed data).
    public static let pixelDecodeFailed = Self("pixel_decode_failed")
    /// More files than `DICOMReadOptions.maxFiles` were given.
    public static let tooManyFiles = Self("too_many_files")
}
