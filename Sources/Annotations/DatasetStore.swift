#if canImport(Glibc)
import Glibc
#endif
import Anatomy
import Foundation
import ImagingCore
import NIfTIIO

/// One accepted case in the store's index (docs/formats.md "Dataset store").
public struct DatasetEntry: Codable, Sendable, Equatable {
    /// Content hash (`AnnotationCheck.contentHash`); the case folder is `cases/<hash>/`.
    public var hash: String
    /// The annotation folder's name when it arrived.
    public var caseName: String
    public var subject: String
    public var region: Region
    public var dataset: String
    public var source: String
    /// Classes annotated everywhere they occur.
    public var present: [String]
    /// When it was accepted (ISO 8601, UTC).
    public var added: String
    /// The processed job whose image it annotates, if any.
    public var job: String?
    /// Warnings at intake (accepted anyway).
    public var warnings: [String]
}

/// The store's `index.json`: every accepted case, oldest first.
public struct DatasetIndex: Codable, Sendable, Equatable {
    public var format = "segvol-dataset-index"
    public var version = 1
    public var cases: [DatasetEntry]

    public init(cases: [DatasetEntry]) { self.cases = cases }

    /// SHA-256 of the sorted case hashes: names the store's content (a model's metrics.json
    /// records the case hashes it was trained with).
    public var snapshot: String { SHA256.hex(cases.map(\.hash).sorted().joined(separator: "\n")) }
}

/// The dataset store (`<state>/dataset/`): `cases/<hash>/` in the case-folder format training
/// reads (image.nii.gz, labels.nii.gz, case.json) plus `entry.json`, and `index.json`.
/// A case folder is written under a dot name, fsynced, renamed into place and the folder
/// fsynced; then the index is rewritten durably. The index is derived: cases whose entry.json
/// it lacks (a crash between rename and index) are added back on the next read.
public struct DatasetStore: Sendable {
    public let root: String
    public var casesDirectory: String { root + "/cases" }
    public var indexPath: String { root + "/index.json" }

    public init(root: String) { self.root = root }

    /// The index, repaired from the case folders' entry.json when they disagree.
    public func index() throws(ImagingError) -> DatasetIndex {
        let fm = FileManager.default
        let folders = ((try? fm.contentsOfDirectory(atPath: casesDirectory)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        var entries: [DatasetEntry] = []
        for name in folders {
            let path = casesDirectory + "/" + name + "/entry.json"
            guard let data = fm.contents(atPath: path), let entry = try? JSONDecoder().decode(DatasetEntry.self, from: data) else {
                throw ImagingError(.datasetStoreInvalid, input: path, reason: "a stored case has no readable entry.json",
                                   remedy: "restore the store from backup, or move that case folder out of the store")
            }
            entries.append(entry)
        }
        entries.sort { ($0.added, $0.hash) < ($1.added, $1.hash) }
        let index = DatasetIndex(cases: entries)
        let onDisk = fm.contents(atPath: indexPath).flatMap { try? JSONDecoder().decode(DatasetIndex.self, from: $0) }
        if onDisk != index, fm.fileExists(atPath: casesDirectory) { try write(index) }
        return index
    }

    /// The stored case with this hash, if any.
    public func entry(hash: String) -> DatasetEntry? {
        FileManager.default.contents(atPath: casesDirectory + "/" + hash + "/entry.json")
            .flatMap { try? JSONDecoder().decode(DatasetEntry.self, from: $0) }
    }

    /// Adds an accepted case durably; returns its entry.
    @discardableResult
    public func add(_ c: CheckedAnnotation, caseName: String, added: Date = Date()) throws(ImagingError) -> DatasetEntry {
        let fm = FileManager.default
        let final = casesDirectory + "/" + c.contentHash
        let temp = casesDirectory + "/.tmp-\(c.contentHash)-\(getpid())"
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        let entry = DatasetEntry(hash: c.contentHash, caseName: caseName, subject: c.sidecar.subject, region: c.sidecar.region,
                                 dataset: c.sidecar.dataset, source: c.sidecar.source ?? "annotation", present: c.sidecar.present,
                                 added: formatter.string(from: added), job: c.sidecar.job, warnings: c.warnings)
        do {
            try fm.createDirectory(atPath: casesDirectory, withIntermediateDirectories: true)
            if fm.fileExists(atPath: temp) { try fm.removeItem(atPath: temp) }
            try fm.createDirectory(atPath: temp, withIntermediateDirectories: false)
            try NIfTIWriter.writeImage(c.image, to: temp + "/image.nii.gz", description: "segvol annotation")
            try NIfTIWriter.writeLabels(c.labels, table: nil, to: temp + "/labels.nii.gz", description: "segvol annotation")
            try DurableFile.write(try c.sidecar.jsonBytes(), to: temp + "/case.json")
            try DurableFile.write(Self.json(entry), to: temp + "/entry.json")
            if fm.fileExists(atPath: final) { try fm.removeItem(atPath: final) }
            try syncDirectory(temp)
            guard rename(temp, final) == 0 else { throw CocoaError(.fileWriteUnknown) }
            try syncDirectory(casesDirectory)
        } catch let e as ImagingError {
            try? fm.removeItem(atPath: temp)
            throw e
        } catch {
            try? fm.removeItem(atPath: temp)
            throw ImagingError(.writeFailed, input: final, reason: "cannot store the case (\(error))", remedy: "check free disk space and the state folder's permissions")
        }
        _ = try index()
        return entry
    }

    func write(_ index: DatasetIndex) throws(ImagingError) {
        do { try DurableFile.write(Self.json(index), to: indexPath) } catch let e as ImagingError { throw e } catch {
            throw ImagingError(.writeFailed, input: indexPath, reason: "\(error)", remedy: "check free disk space and permissions")
        }
    }

    static func json<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return ((try? encoder.encode(value)).map(Array.init) ?? []) + [10]
    }
}

/// fsync of a folder, so a rename or new entry in it survives a crash.
func syncDirectory(_ path: String) throws(ImagingError) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else {
        throw ImagingError(.writeFailed, input: path, reason: "cannot open the folder to sync it (errno \(errno))", remedy: "check the folder's permissions")
    }
    defer { close(fd) }
    guard fsync(fd) == 0 else {
        throw ImagingError(.writeFailed, input: path, reason: "fsync of the folder failed (errno \(errno))", remedy: "check the disk")
    }
}
