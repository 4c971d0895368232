import DICOMIO
import Foundation
import ImagingCore
import NIfTIIO
import Spool

/// The convert stage of the worker: the drop's files become scans.
///
/// Policy (docs/operations.md): a single NIfTI file is one scan. In a folder, every DICOM series
/// that converts is its own scan (`series<N>`); NIfTI files in a folder are processed (each its
/// own scan, `nifti<k>`) only when the folder holds no DICOM image, otherwise they are listed as
/// skipped. A drop fails only when nothing converts (`requireScans`).
struct Conversion {
    var scans: [(dir: String, scan: Scan)] = []
    var refused: [JobManifest.Refusal] = []
    var skipped: [JobManifest.Refusal] = []
    /// SeriesInstanceUID → SOPInstanceUIDs of every DICOM series found (converted or not), and
    /// the UIDs of the series that converted (late-instance check, series index).
    var series: [String: Set<String>] = [:]
    var convertedSeries: Set<String> = []

    static func isNIfTIName(_ path: String) -> Bool {
        let lower = path.lowercased()
        return lower.hasSuffix(".nii") || lower.hasSuffix(".nii.gz")
    }

    static func run(drop: String, isFolder: Bool, inputs: [InputFileName]) throws(JobRunner.Refused) -> Conversion {
        var out = Conversion()
        func refusal(_ error: ImagingError) -> JobRunner.Refused {
            JobRunner.Refused(code: error.code.rawValue, message: error.operatorMessage, stage: "convert", status: WorkerExit.badInput)
        }
        if !isFolder && InputLoader.isNIfTI(drop) {
            do { out.scans = [(".", try NIfTIReader.readImage(path: drop))] } catch let error as ImagingError { throw refusal(error) } catch {
                throw JobRunner.Refused(code: "unreadable", message: "\(error)", stage: "convert", status: WorkerExit.badInput)
            }
            return out
        }
        let paths = inputs.map { isFolder ? drop + "/" + $0.relative : drop }
        let nifti = isFolder ? paths.filter(isNIfTIName) : []
        let others = paths.filter { !nifti.contains($0) }
        var dicom: DICOMReadResult?
        var dicomError: ImagingError?
        if !others.isEmpty {
            do { dicom = try DICOMReader.read(paths: others) } catch { dicomError = error }
        }
        if let dicom {
            out.skipped = dicom.skipped.map { .init(label: relative($0.path, drop), code: $0.code.rawValue, reason: $0.reason) }
                + nifti.map { .init(label: relative($0, drop), code: "nifti_beside_dicom", reason: "a NIfTI file next to a DICOM series is not processed") }
            var used = Set<String>()
            for (index, outcome) in dicom.series.enumerated() {
                if let uid = outcome.seriesInstanceUID {
                    out.series[uid, default: []].formUnion(outcome.sopInstanceUIDs)
                    if case .success = outcome.result { out.convertedSeries.insert(uid) }
                }
                switch outcome.result {
                case .success(let scan):
                    var dir = "series\(scan.metadata.seriesNumber ?? index + 1)"
                    while used.contains(dir) { dir += "_\(index + 1)" }
                    used.insert(dir)
                    out.scans.append((dir, scan))
                case .failure(let error):
                    out.refused.append(.init(label: outcome.key, code: error.code.rawValue, reason: error.reason, remedy: error.remedy))
                }
            }
        } else if !nifti.isEmpty {
            out.skipped = others.map { .init(label: relative($0, drop), code: dicomError?.code.rawValue ?? "not_an_image", reason: "neither DICOM nor NIfTI") }
            for (index, path) in nifti.enumerated() {
                do { out.scans.append(("nifti\(index + 1)", try NIfTIReader.readImage(path: path))) } catch let error as ImagingError {
                    out.refused.append(.init(label: relative(path, drop), code: error.code.rawValue, reason: error.reason, remedy: error.remedy))
                } catch {
                    out.refused.append(.init(label: relative(path, drop), code: "unreadable", reason: "\(error)"))
                }
            }
        } else if let dicomError {
            throw refusal(dicomError)
        }
        if out.scans.count == 1 { out.scans[0].dir = "." }
        return out
    }

    /// Refuses a drop from which nothing converted (after the late-instance check, which must
    /// see series that do not convert on their own, e.g. one late slice).
    func requireScans() throws(JobRunner.Refused) {
        guard scans.isEmpty else { return }
        let first = refused.first
        throw JobRunner.Refused(code: first?.code ?? "no_scan", message: Self.nothingConverted(first: first, skipped: skipped),
                                stage: "convert", status: WorkerExit.badInput)
    }

    /// The operator's message when nothing converted: the first refusal with its remedy, then the
    /// skipped files by reason code with the first one's reason (a skipped slice is often why a
    /// series no longer forms a volume).
    static func nothingConverted(first: JobManifest.Refusal?, skipped: [JobManifest.Refusal]) -> String {
        var parts = ["Nothing in the drop could be converted: \(first?.reason ?? "no image")", first?.remedy ?? ""]
        if let one = skipped.first {
            var counts: [String: Int] = [:]
            for s in skipped { counts[s.code, default: 0] += 1 }
            let byCode = counts.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
            parts.append("\(skipped.count) file(s) were skipped (\(byCode)), e.g. \(one.label): \(one.reason)")
        }
        return ImagingError.sentences(parts)
    }

    static func relative(_ path: String, _ drop: String) -> String {
        path.hasPrefix(drop + "/") ? String(path.dropFirst(drop.count + 1)) : (path as NSString).lastPathComponent
    }
}

/// The part of an input file the converter needs.
struct InputFileName {
    var relative: String
}
