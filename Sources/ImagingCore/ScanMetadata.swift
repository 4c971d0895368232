/// What segvol keeps about a scan for later stages. Identifiers here (`patientID`, UIDs) are
/// never logged or written to names; the patient ID is only used for a keyed pseudonym.
public struct ScanMetadata: Equatable, Sendable, Codable {
    public var modality: String?
    public var bodyPartExamined: String?
    public var seriesDescription: String?
    public var studyInstanceUID: String?
    public var seriesInstanceUID: String?
    public var seriesNumber: Int?
    public var patientID: String?
    /// DICOM DA format, `YYYYMMDD`.
    public var studyDate: String?
    public var magneticFieldStrength: Double?
    public var manufacturer: String?
    /// Where the voxels came from (e.g. "dicom", "nifti-1", "nifti-2").
    public var sourceFormat: String?

    public init() {}
}

/// A converted scan: intensities on their native grid plus metadata.
public struct Scan: Sendable {
    public var image: ImageVolume
    public var metadata: ScanMetadata
    /// Non-fatal observations made during conversion (e.g. "4-D file: used volume 0 of 3").
    public var warnings: [String]

    public init(image: ImageVolume, metadata: ScanMetadata = ScanMetadata(), warnings: [String] = []) {
        self.image = image
        self.metadata = metadata
        self.warnings = warnings
    }
}
