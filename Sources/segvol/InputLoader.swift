import ArgumentParser
import DICOMIO
import Foundation
import ImagingCore
import NIfTIIO

/// One volume found among the inputs, or the reason it was refused.
struct LoadedSeries {
    /// A short label without patient data (e.g. `series 4 "T1 ax" 256×256×20` or the file name).
    var label: String
    /// The series number where the input is DICOM.
    var seriesNumber: Int?
    var result: Result<Scan, ImagingError>
}

/// Everything `convert` and `info` found in their inputs.
struct LoadResult {
    var series: [LoadedSeries]
    /// Files that were skipped, each with why (non-image DICOM objects, non-DICOM files).
    var notes: [String]
}

/// Reads the command's inputs: one NIfTI file, or DICOM files and folders (found by content).
enum InputLoader {
    static func load(_ paths: [String], volumeIndex: Int?) throws -> LoadResult {
        for path in paths where !FileManager.default.fileExists(atPath: path) {
            throw ImagingError(.notFound, input: path, reason: "no such file or folder",
                               remedy: "check the path")
        }
        if paths.count == 1, isNIfTI(paths[0]) {
            var options = NIfTIReadOptions()
            if let volumeIndex { options.volumeIndex = volumeIndex }
            let name = (paths[0] as NSString).lastPathComponent
            do {
                return LoadResult(series: [LoadedSeries(label: name, result: .success(try NIfTIReader.readImage(path: paths[0], options: options)))], notes: [])
            } catch let error as ImagingError {
                return LoadResult(series: [LoadedSeries(label: name, result: .failure(error))], notes: [])
            }
        }
        let read = try DICOMReader.read(paths: paths)
        let series = read.series.map { outcome in
            LoadedSeries(label: "\(outcome.key) (\(outcome.fileCount) files)",
                         seriesNumber: (try? outcome.result.get())?.metadata.seriesNumber, result: outcome.result)
        }
        return LoadResult(series: series, notes: read.skipped.map { "skipped \($0.path): \($0.reason) [\($0.code)]" })
    }

    /// `load`, printing the skipped-file notes; a refusal of the whole input is printed and
    /// becomes the matching exit status.
    static func loadReporting(_ paths: [String], volumeIndex: Int?) throws -> LoadResult {
        do {
            let loaded = try load(paths, volumeIndex: volumeIndex)
            loaded.notes.forEach(note)
            return loaded
        } catch let error as ImagingError {
            report(error)
            throw ExitCode(ExitStatus.forError(error))
        }
    }

    /// True for a `.nii`/`.nii.gz` name, or a file whose header carries the NIfTI magic.
    static func isNIfTI(_ path: String) -> Bool {
        let lower = path.lowercased()
        if lower.hasSuffix(".nii") || lower.hasSuffix(".nii.gz") { return true }
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 348), head.count >= 348 else { return false }
        let magic1 = head[344..<348], magic2 = head[4..<8]
        return magic1.elementsEqual(Array("n+1\0".utf8)) || magic2.elementsEqual(Array("n+2\0".utf8))
    }
}
