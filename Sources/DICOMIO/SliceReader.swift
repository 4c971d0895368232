import ImagingCore

/// SOP classes that never hold a scan volume, by UID prefix (PS3.4 Annex B).
let nonImageSOPClassPrefixes: [(prefix: String, name: String)] = [
    ("1.2.840.10008.5.1.4.1.1.66", "segmentation / raw data / registration"),
    ("1.2.840.10008.5.1.4.1.1.88", "structured report"),
    ("1.2.840.10008.5.1.4.1.1.11", "presentation state"),
    ("1.2.840.10008.5.1.4.1.1.481", "radiotherapy object"),
    ("1.2.840.10008.5.1.4.1.1.104", "encapsulated document"),
    ("1.2.840.10008.5.1.4.1.1.9", "waveform"),
    ("1.2.840.10008.1.3.10", "DICOMDIR"),
]

/// Reads the slice descriptors (one per frame) of a parsed file, or says why it has none.
enum SliceReader {
    /// Why a DICOM file is not an image (nil when it is one).
    static func nonImageReason(_ file: DICOMFile) -> String? {
        if let sop = file.string(Tag.sopClassUID),
           let hit = nonImageSOPClassPrefixes.first(where: { sop == $0.prefix || sop.hasPrefix($0.prefix + ".") }) {
            return "\(hit.name) (SOP class \(sop))"
        }
        if file.has(0x0004_1220) { return "DICOMDIR (directory record sequence)" }
        if !file.has(Tag.pixelData) { return "no Pixel Data (7FE0,0010)" }
        return nil
    }

    /// The per-frame descriptors of an image file. Throws `too_large` before any allocation
    /// when Rows×Columns×frames exceeds `maxVoxels`.
    static func slices(of file: DICOMFile, maxVoxels: Int) throws(ImagingError) -> [DICOMSlice] {
        let rows = file.int(Tag.rows) ?? 0, columns = file.int(Tag.columns) ?? 0
        let frames = max(file.int(Tag.numberOfFrames) ?? 1, 1)
        guard rows > 0, columns > 0 else {
            throw ImagingError(.missingGeometry, input: file.path, reason: "Rows or Columns is missing or zero",
                               remedy: "The file is damaged or not an image; re-export it.")
        }
        guard rows.multipliedReportingOverflow(by: columns).partialValue <= maxVoxels / frames,
              rows <= 65535, columns <= 65535 else {
            throw ImagingError(.tooLarge, input: file.path, reason: "\(columns)×\(rows)×\(frames) voxels exceed the limit of \(maxVoxels)",
                               remedy: "Raise DICOMReadOptions.maxVoxels if this size is genuine.")
        }
        var base = DICOMSlice(path: file.path, rows: rows, columns: columns,
                              orientation: file.doubles(Tag.imageOrientationPatient).flatMap { $0.count == 6 ? $0 : nil },
                              position: vector(file.doubles(Tag.imagePositionPatient)),
                              pixelSpacing: file.doubles(Tag.pixelSpacing).flatMap { $0.count == 2 ? $0 : nil })
        base.seriesInstanceUID = file.string(Tag.seriesInstanceUID) ?? ""
        base.imageType = (file.string(Tag.imageType) ?? "").split(separator: "\\").map { $0.trimmingSpaces }
        base.echo = file.string(Tag.echoNumbers) ?? ""
        base.sliceThickness = file.double(Tag.sliceThickness)
        base.spacingBetweenSlices = file.double(Tag.spacingBetweenSlices)
        // Present but not a finite number ("1e400", "abc"): refuse rather than read it as absent.
        for (tag, name) in [(Tag.rescaleSlope, "RescaleSlope"), (Tag.rescaleIntercept, "RescaleIntercept")] {
            if let text = file.string(tag)?.trimmingSpaces, !text.isEmpty, file.double(tag) == nil {
                throw ImagingError(.badRescale, input: file.path, reason: "\(name) \"\(text.prefix(32))\" is not a finite number",
                                   remedy: "The header is damaged; re-export the series.")
            }
        }
        base.rescaleSlope = file.double(Tag.rescaleSlope) ?? 1
        base.rescaleIntercept = file.double(Tag.rescaleIntercept) ?? 0
        base.samplesPerPixel = file.int(Tag.samplesPerPixel) ?? 1
        base.photometric = file.string(Tag.photometricInterpretation)?.uppercased() ?? "MONOCHROME2"
        base.bitsAllocated = file.int(Tag.bitsAllocated) ?? 16
        base.bitsStored = file.int(Tag.bitsStored) ?? base.bitsAllocated
        base.highBit = file.int(Tag.highBit) ?? (base.bitsStored - 1)
        base.pixelRepresentation = file.int(Tag.pixelRepresentation) ?? 0
        base.transferSyntax = file.transferSyntax
        base.numberOfFrames = frames
        base.metadata = metadata(of: file)
        if base.rescaleSlope == 0 { base.rescaleSlope = 1 }

        let perFrame = file.itemCount(Tag.perFrameFunctionalGroups)
        let shared = file.itemCount(Tag.sharedFunctionalGroups)
        guard frames > 1 || perFrame != nil else { return [base] }
        guard let perFrame, perFrame >= frames else {
            throw ImagingError(.unsupportedMultiframe, input: file.path,
                               reason: "\(frames) frames without per-frame functional groups (no per-frame geometry)",
                               remedy: "Export the series as single-frame or enhanced CT/MR images.")
        }
        return (0..<frames).map { f in
            var s = base
            s.frame = f
            /// Per-frame value first, then the shared group (PS3.3 C.7.6.16).
            func lookup(_ seq: UInt32, _ leaf: UInt32) -> [Double]? {
                file.doubles(TagPath(Tag.perFrameFunctionalGroups, f, seq, 0, leaf))
                    ?? (shared != nil ? file.doubles(TagPath(Tag.sharedFunctionalGroups, 0, seq, 0, leaf)) : nil)
            }
            if let v = lookup(Tag.planePositionSequence, Tag.imagePositionPatient) { s.position = vector(v) }
            if let v = lookup(Tag.planeOrientationSequence, Tag.imageOrientationPatient), v.count == 6 { s.orientation = v }
            if let v = lookup(Tag.pixelMeasuresSequence, Tag.pixelSpacing), v.count == 2 { s.pixelSpacing = v }
            if let v = lookup(Tag.pixelMeasuresSequence, Tag.sliceThickness)?.first { s.sliceThickness = v }
            if let v = lookup(Tag.pixelValueTransformationSequence, Tag.rescaleSlope)?.first, v != 0 { s.rescaleSlope = v }
            if let v = lookup(Tag.pixelValueTransformationSequence, Tag.rescaleIntercept)?.first { s.rescaleIntercept = v }
            if let v = lookup(Tag.mrEchoSequence, Tag.effectiveEchoTime)?.first { s.echo = String(v) }
            // FrameType replaces ImageType per frame, so magnitude and phase frames are split.
            for seq in [Tag.mrImageFrameTypeSequence, Tag.ctImageFrameTypeSequence] {
                if let t = file.string(TagPath(Tag.perFrameFunctionalGroups, f, seq, 0, Tag.frameType))
                    ?? file.string(TagPath(Tag.sharedFunctionalGroups, 0, seq, 0, Tag.frameType)) {
                    s.imageType = t.split(separator: "\\").map { $0.trimmingSpaces }
                }
            }
            return s
        }
    }

    static func metadata(of file: DICOMFile) -> ScanMetadata {
        var m = ScanMetadata()
        m.modality = file.string(Tag.modality)
        m.bodyPartExamined = file.string(Tag.bodyPartExamined)
        m.seriesDescription = file.string(Tag.seriesDescription)
        m.studyInstanceUID = file.string(Tag.studyInstanceUID)
        m.seriesInstanceUID = file.string(Tag.seriesInstanceUID)
        m.seriesNumber = file.int(Tag.seriesNumber)
        m.patientID = file.string(Tag.patientID)
        m.studyDate = file.string(Tag.studyDate)
        m.magneticFieldStrength = file.double(Tag.magneticFieldStrength)
        m.manufacturer = file.string(Tag.manufacturer)
        m.sourceFormat = "dicom"
        return m
    }

    private static func vector(_ v: [Double]?) -> SIMD3<Double>? {
        guard let v, v.count == 3 else { return nil }
        return SIMD3(v[0], v[1], v[2])
    }
}
