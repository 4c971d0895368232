import Foundation
import ImagingCore

/// Limits and policies of one `DICOMReader.read` call.
public struct DICOMReadOptions: Sendable {
    /// At most this many files are examined per call; more throws `too_many_files`.
    public var maxFiles: Int
    /// Files larger than this (bytes) are skipped with `too_large`.
    public var maxFileBytes: Int
    /// A single file or series with more voxels than this is refused with `too_large` before allocation.
    public var maxVoxels: Int
    /// Accept a series of one slice as a one-slice volume (off: refused with `single_slice`).
    public var allowSingleSlice: Bool

    public init(maxFiles: Int = 20_000, maxFileBytes: Int = 2 << 30, maxVoxels: Int = 1 << 30,
                allowSingleSlice: Bool = false) {
        self.maxFiles = maxFiles
        self.maxFileBytes = maxFileBytes
        self.maxVoxels = maxVoxels
        self.allowSingleSlice = allowSingleSlice
    }
}

/// A file that was not used, and why (`code` is one of the documented reason codes).
public struct SkippedFile: Sendable, Equatable {
    public var path: String
    public var code: ImagingError.Code
    public var reason: String

    public init(path: String, code: ImagingError.Code, reason: String) {
        self.path = path
        self.code = code
        self.reason = reason
    }
}

/// The outcome for one candidate volume (a series, or one part of a split series).
public struct DICOMSeriesOutcome: Sendable {
    /// A PHI-free label: series number, description, plane and matrix (e.g. `series 4 "T1" axial 512x512`).
    public var key: String
    /// Number of files whose frames make up this candidate.
    public var fileCount: Int
    public var result: Result<Scan, ImagingError>
    /// The candidate's SeriesInstanceUID and its instances' SOPInstanceUIDs (known even when the
    /// candidate does not convert; the daemon uses them to spot instances that arrive late).
    public var seriesInstanceUID: String? = nil
    public var sopInstanceUIDs: [String] = []

    public init(key: String, fileCount: Int, result: Result<Scan, ImagingError>) {
        self.key = key
        self.fileCount = fileCount
        self.result = result
    }
}

/// Everything one read produced: one outcome per candidate volume plus the files skipped.
public struct DICOMReadResult: Sendable {
    public var series: [DICOMSeriesOutcome]
    public var skipped: [SkippedFile]

    public init(series: [DICOMSeriesOutcome], skipped: [SkippedFile]) {
        self.series = series
        self.skipped = skipped
    }

    /// The scans that converted.
    public var scans: [Scan] { series.compactMap { try? $0.result.get() } }
}

/// Reads DICOM files into scans, the way dcm2niix does: find DICOM by content, group into
/// series, order slices along the normal, check the geometry, decode and rescale the pixels.
public enum DICOMReader {
    /// Reads every DICOM image among `paths` (files or folders, searched recursively).
    /// Throws only when no DICOM image was found (`no_dicom`) or the file cap is exceeded;
    /// everything else is reported per series or per skipped file.
    public static func read(paths: [String], options: DICOMReadOptions = .init()) throws(ImagingError) -> DICOMReadResult {
        try read(paths: paths, options: options, referencePixels: false)
    }

    /// `read`, with the pixels decoded by `PixelDecoder.referenceDecode` when `referencePixels`
    /// (tests compare the two).
    static func read(paths: [String], options: DICOMReadOptions, referencePixels: Bool) throws(ImagingError) -> DICOMReadResult {
        let files = try FileDiscovery.files(in: paths, maxFiles: options.maxFiles)
        var skipped: [SkippedFile] = []
        var slices: [DICOMSlice] = []
        var seenInstances: [String: String] = [:]
        var instanceOfPath: [String: String] = [:]
        for path in files {
            switch FileDiscovery.probe(path, maxBytes: options.maxFileBytes) {
            case .skip(let code, let reason):
                skipped.append(SkippedFile(path: path, code: code, reason: reason))
                continue
            case .dicom:
                break
            }
            do {
                let file = try DICOMFile(path: path)
                if let why = SliceReader.nonImageReason(file) {
                    skipped.append(SkippedFile(path: path, code: .nonImage, reason: why))
                    continue
                }
                if let uid = file.string(Tag.sopInstanceUID) {
                    if let first = seenInstances[uid] {
                        skipped.append(SkippedFile(path: path, code: .duplicateInstance,
                                                   reason: "same SOPInstanceUID as \(first), which is used"))
                        continue
                    }
                    seenInstances[uid] = path
                    instanceOfPath[path] = uid
                }
                slices += try SliceReader.slices(of: file, maxVoxels: options.maxVoxels)
            } catch {
                skipped.append(SkippedFile(path: path, code: error.code, reason: error.reason))
            }
        }
        guard !slices.isEmpty else {
            let counts = Dictionary(grouping: skipped, by: \.code.rawValue).map { "\($0.key) ×\($0.value.count)" }.sorted()
            throw ImagingError(.noDICOM, input: paths.count == 1 ? paths[0] : "\(paths.count) inputs",
                               reason: "no DICOM image among \(files.count) files (skipped: \(counts.joined(separator: ", ")))",
                               remedy: "Point segvol at the folder that holds the series' image files.")
        }
        let outcomes = SeriesAssembly.group(slices).map { group -> DICOMSeriesOutcome in
            let files = Set(group.map(\.path)).count
            let result = SeriesAssembly.assemble(group, allowSingleSlice: options.allowSingleSlice)
                .flatMap { assembled -> Result<Scan, ImagingError> in
                    Result { () throws(ImagingError) -> Scan in
                        let image = referencePixels
                            ? try PixelDecoder.referenceDecode(assembled, maxVoxels: options.maxVoxels)
                            : try PixelDecoder.decode(assembled, maxVoxels: options.maxVoxels)
                        return Scan(image: image, metadata: assembled.slices[0].metadata, warnings: assembled.warnings)
                    }
                }
            var outcome = DICOMSeriesOutcome(key: label(group), fileCount: files, result: result)
            outcome.seriesInstanceUID = group[0].metadata.seriesInstanceUID
            outcome.sopInstanceUIDs = Set(group.map(\.path)).compactMap { instanceOfPath[$0] }.sorted()
            return outcome
        }
        return DICOMReadResult(series: outcomes, skipped: skipped)
    }

    /// A PHI-free label of a candidate volume.
    static func label(_ group: [DICOMSlice]) -> String {
        let s = group[0]
        let number = s.metadata.seriesNumber.map { " \($0)" } ?? ""
        let description = s.metadata.seriesDescription.map { " \"\($0)\"" } ?? ""
        let plane = s.normal.map(planeName) ?? "no-orientation"
        let echo = s.echo.isEmpty ? "" : " echo \(s.echo)"
        return "series\(number)\(description) \(plane) \(s.columns)x\(s.rows)\(echo)"
    }
}
