import ImagingCore

/// Options for reading a NIfTI file. Defaults suit any scan segvol handles.
public struct NIfTIReadOptions: Sendable, Equatable {
    /// Which volume of a 4-D (or higher) file to read, 0-based. Reading volume 0 of a file
    /// with several volumes adds a warning to `Scan.warnings`; an index past the end throws
    /// `nifti_volume_out_of_range`.
    public var volumeIndex: Int?
    /// Largest voxel payload accepted (all volumes, in bytes, as stored). Default 2^31.
    public var maxDataBytes: Int
    /// Largest decompressed size of a `.nii.gz` stream, header included. Inflation stops at
    /// this many bytes + 1 and throws `nifti_gzip_too_large`. Default 2^31 + 1 MiB.
    public var maxDecompressedBytes: Int

    public init(volumeIndex: Int? = nil, maxDataBytes: Int = 1 << 31, maxDecompressedBytes: Int = (1 << 31) + (1 << 20)) {
        self.volumeIndex = volumeIndex
        self.maxDataBytes = maxDataBytes
        self.maxDecompressedBytes = maxDecompressedBytes
    }
}

/// What `NIfTIReader.readHeader` reports without reading voxels.
public struct NIfTIHeaderSummary: Sendable, Equatable {
    /// 1 or 2.
    public var version: Int
    /// True when the file is big-endian.
    public var bigEndian: Bool
    /// `dim[1...dim[0]]`.
    public var dims: [Int]
    /// NIfTI datatype code (2 uint8, 4 int16, 8 int32, 16 float32, 64 float64, 256 int8, 512 uint16, 768 uint32).
    public var datatype: Int
    /// `pixdim[1...dim[0]]`.
    public var pixdim: [Double]
    public var voxOffset: Int
    /// The scaling in effect, `nil` when none (slope 0 or slope 1 with intercept 0).
    public var scaling: (slope: Double, intercept: Double)?
    public var qformCode: Int
    public var sformCode: Int
    /// The voxel-to-RAS affine segvol uses (see `NIfTIReader`).
    public var affine: Affine
    /// "sform", "qform" or "pixdim".
    public var affineSource: String
    public var intentCode: Int
    public var description: String
    /// Number of 3-D volumes (product of dims 4...dim[0]).
    public var volumeCount: Int

    public static func == (a: Self, b: Self) -> Bool {
        a.version == b.version && a.bigEndian == b.bigEndian && a.dims == b.dims && a.datatype == b.datatype
            && a.pixdim == b.pixdim && a.voxOffset == b.voxOffset && a.scaling?.slope == b.scaling?.slope
            && a.scaling?.intercept == b.scaling?.intercept && a.qformCode == b.qformCode
            && a.sformCode == b.sformCode && a.affine == b.affine && a.affineSource == b.affineSource
            && a.intentCode == b.intentCode && a.description == b.description && a.volumeCount == b.volumeCount
    }
}

/// Options for writing NIfTI files.
public struct NIfTIWriteOptions: Sendable, Equatable {
    /// How image intensities are stored.
    public enum ImageDatatype: Sendable, Equatable {
        /// The narrowest lossless type: uint8, int16, uint16 or int32 when every value is an
        /// integer in its range (as DICOM-derived and most MR/CT data are), else float32.
        /// Exact like float32, and half the bytes or less for scanner data.
        case exact
        /// float32: exact for every `Float`.
        case float32
        /// int16: exact when every value is an integer in Int16 range; otherwise the range
        /// is mapped linearly onto -32767...32767 with `scl_slope`/`scl_inter` (lossy).
        case int16
    }
    /// How label maps are stored.
    public enum LabelDatatype: Sendable, Equatable {
        /// uint8 when every id is in 0...255, else int16.
        case automatic
        case uint8
        case int16
    }
    public var imageDatatype: ImageDatatype
    public var labelDatatype: LabelDatatype
    /// sform_code (and qform_code) written: 1 = NIFTI_XFORM_SCANNER_ANAT, 2 = NIFTI_XFORM_ALIGNED_ANAT.
    public var xformCode: Int16
    /// gzip level 1...9.
    public var compressionLevel: Int32
    /// Write `<name>.json` next to a label map (`labels.nii.gz` -> `labels.json`).
    public var writeLabelSidecar: Bool

    public init(imageDatatype: ImageDatatype = .exact, labelDatatype: LabelDatatype = .automatic,
                xformCode: Int16 = 1, compressionLevel: Int32 = 6, writeLabelSidecar: Bool = true) {
        self.imageDatatype = imageDatatype
        self.labelDatatype = labelDatatype
        self.xformCode = xformCode
        self.compressionLevel = compressionLevel
        self.writeLabelSidecar = writeLabelSidecar
    }
}
