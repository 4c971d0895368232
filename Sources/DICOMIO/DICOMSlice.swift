import ImagingCore

/// Everything the reader needs about one 2-D frame: grouping keys, geometry (DICOM LPS, as
/// stored), pixel format and rescale. A classic file gives one slice; an enhanced multi-frame
/// file gives one per frame. Pure data, so series assembly is testable without files.
struct DICOMSlice: Sendable {
    var path: String
    /// Frame index inside the file (0 for single-frame files).
    var frame: Int = 0
    var seriesInstanceUID: String = ""
    var imageType: [String] = []
    /// EchoNumbers, or EffectiveEchoTime for enhanced MR: slices with different values are split.
    var echo: String = ""
    var rows: Int
    var columns: Int
    /// ImageOrientationPatient: row direction cosine then column direction cosine (LPS).
    var orientation: [Double]?
    /// ImagePositionPatient: centre of the first transmitted pixel (LPS mm).
    var position: SIMD3<Double>?
    /// PixelSpacing as stored: [spacing between rows, spacing between columns] (mm).
    var pixelSpacing: [Double]?
    var sliceThickness: Double?
    var spacingBetweenSlices: Double?
    var rescaleSlope: Double = 1
    var rescaleIntercept: Double = 0
    var samplesPerPixel: Int = 1
    /// PhotometricInterpretation (MONOCHROME1 / MONOCHROME2 are scalar images).
    var photometric: String = "MONOCHROME2"
    var bitsAllocated: Int = 16
    var bitsStored: Int = 16
    var highBit: Int = 15
    /// 0 unsigned, 1 two's complement.
    var pixelRepresentation: Int = 0
    var transferSyntax: String = "1.2.840.10008.1.2.1"
    var numberOfFrames: Int = 1
    var metadata = ScanMetadata()

    init(path: String, rows: Int, columns: Int, orientation: [Double]?, position: SIMD3<Double>?,
         pixelSpacing: [Double]?) {
        self.path = path
        self.rows = rows
        self.columns = columns
        self.orientation = orientation
        self.position = position
        self.pixelSpacing = pixelSpacing
    }

    /// Unit row (i) and column (j) direction cosines, LPS.
    var rowCosine: SIMD3<Double>? { orientation.map { SIMD3($0[0], $0[1], $0[2]) } }
    var columnCosine: SIMD3<Double>? { orientation.map { SIMD3($0[3], $0[4], $0[5]) } }

    /// The slice normal, row × column (LPS); slices are ordered along it.
    var normal: SIMD3<Double>? {
        guard let r = rowCosine, let c = columnCosine else { return nil }
        return r.cross(c)
    }

    var isMosaic: Bool { imageType.contains { $0.uppercased() == "MOSAIC" } }
}
