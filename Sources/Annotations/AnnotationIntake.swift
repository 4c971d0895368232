#if canImport(Glibc)
import Glibc
#endif
import Anatomy
import Foundation
import ImagingCore
import NIfTIIO
import Spool

/// What one intake pass did.
public struct IntakeReport: Sendable {
    public struct Failure: Sendable {
        /// `region/case` as it arrived.
        public var caseName: String
        public var error: ImagingError
        /// Where the case and its reason.json now are (`annotations/failed/<case>/`).
        public var movedTo: String
    }
    public var accepted: [DatasetEntry] = []
    public var failed: [Failure] = []
    /// Cases still being copied or changed during the quiet time: looked at again next pass.
    public var waiting: [String] = []
}

/// `failed/<case>/reason.json`.
public struct AnnotationFailureRecord: Codable, Sendable, Equatable {
    public var format = "segvol-annotation-failure"
    public var version = 1
    public var code: String
    /// For the operator: what is wrong.
    public var message: String
    /// What to do about it.
    public var remedy: String
    /// The file or folder concerned (relative names inside the case folder).
    public var input: String
    public var region: String
    public var failedAt: String
}

/// Annotation intake (docs/operations.md "Annotations"): `annotations/<region>/<case>/` folders
/// are settled like inbox drops (lstat signatures unchanged for the quiet time on the monotonic
/// clock; `*.part`/`*.tmp` entries mean still copying; dotfiles are never opened; symlinks,
/// FIFOs, devices, sockets and hard links are refused), checked (`AnnotationCheck`), and either
/// stored (`DatasetStore.add`, then the folder moves to `annotations/accepted/<case>/`) or moved
/// untouched to `annotations/failed/<case>/` with `reason.json`.
public struct AnnotationIntake: Sendable {
    public var annotations: String
    public var store: DatasetStore
    /// The site's outbox, for `job` references.
    public var outbox: String
    public var catalog: LabelCatalog
    /// The inbox's folder quiet time (`inbox.quiet_folder_s`).
    public var quiet: Duration

    public init(annotations: String, store: DatasetStore, outbox: String, catalog: LabelCatalog, quiet: Duration) {
        self.annotations = annotations
        self.store = store
        self.outbox = outbox
        self.catalog = catalog
        self.quiet = quiet
    }

    public var failedDirectory: String { annotations + "/failed" }
    public var acceptedDirectory: String { annotations + "/accepted" }

    /// The case folders waiting below `annotations/<region>/` (names starting with `.` skipped).
    public func pending() -> [(region: Region, name: String, path: String)] {
        var out: [(Region, String, String)] = []
        for region in Region.allCases {
            let dir = annotations + "/" + region.rawValue
            var st = stat()
            guard lstat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { continue }
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() where !isTemporaryName(name) {
                out.append((region, name, dir + "/" + name))
            }
        }
        return out
    }

    /// One pass: observes every pending case, waits the quiet time, observes again, and takes
    /// the cases that did not change. `sleep` is replaceable for tests.
    public func run(sleep: (Duration) -> Void = { d in
        let (s, a) = d.components
        Thread.sleep(forTimeInterval: Double(s) + Double(a) / 1e18)
    }) throws(ImagingError) -> IntakeReport {
        var report = IntakeReport()
        var settler = Settler(quietFolder: quiet, quietFile: quiet)
        let clock = ContinuousClock()
        var candidates: [(region: Region, name: String, path: String)] = []
        for c in pending() {
            guard let sig = try? DropInspector.inspect(c.path) else { continue }
            if let refusal = sig.refusal {
                report.failed.append(try fail(c, ImagingError(.annotationUnsafe, input: "\(c.region.rawValue)/\(c.name)", reason: refusal,
                                                              remedy: "copy the files themselves (no links, no special files) into a new case folder")))
                continue
            }
            if !sig.isFolder {
                report.failed.append(try fail(c, ImagingError(.annotationIncomplete, input: "\(c.region.rawValue)/\(c.name)",
                                                              reason: "a case must be a folder (image, labels.nii.gz, case.json), not a single file",
                                                              remedy: "put the files of one case in a folder under annotations/\(c.region.rawValue)/")))
                continue
            }
            _ = settler.observe(c.path, sig, now: clock.now)
            candidates.append(c)
        }
        guard !candidates.isEmpty else { return report }
        sleep(quiet)
        for c in candidates {
            guard let sig = try? DropInspector.inspect(c.path) else { continue }
            guard settler.observe(c.path, sig, now: clock.now), sig.refusal == nil else {
                report.waiting.append("\(c.region.rawValue)/\(c.name)")
                continue
            }
            do throws(ImagingError) {
                let checked = try AnnotationCheck.check(folder: c.path, region: c.region, catalog: catalog, outbox: outbox)
                if let existing = store.entry(hash: checked.contentHash) {
                    throw ImagingError(.annotationDuplicate, input: "\(c.region.rawValue)/\(c.name)",
                                       reason: "the same image and label map were accepted on \(existing.added) (case \(existing.hash.prefix(12)) in the dataset store)",
                                       remedy: "nothing to do; to replace an annotation, correct the label map (a changed map is a new case)")
                }
                let entry = try store.add(checked, caseName: c.name)
                report.accepted.append(entry)
                _ = try? move(c.path, into: acceptedDirectory, name: c.name)
            } catch {
                report.failed.append(try fail(c, error))
            }
        }
        return report
    }

    /// Moves the case untouched to `failed/<case>/` and writes reason.json beside its files.
    func fail(_ c: (region: Region, name: String, path: String), _ error: ImagingError) throws(ImagingError) -> IntakeReport.Failure {
        let target = try move(c.path, into: failedDirectory, name: c.name)
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        let input = error.input.hasPrefix(c.path) ? String(error.input.dropFirst(c.path.count)).trimmingCharacters(in: CharacterSet(charactersIn: "/")) : error.input
        let record = AnnotationFailureRecord(code: error.code.rawValue, message: error.reason, remedy: error.remedy,
                                             input: input.isEmpty ? c.name : input, region: c.region.rawValue,
                                             failedAt: formatter.string(from: Date()))
        do { try DurableFile.write(DatasetStore.json(record), to: target + "/reason.json") } catch {
            throw ImagingError(.writeFailed, input: target + "/reason.json", reason: "\(error)", remedy: "check the annotations folder's permissions")
        }
        return .init(caseName: "\(c.region.rawValue)/\(c.name)", error: error, movedTo: target)
    }

    /// Renames `path` to `directory/name` (or `name-2`, `name-3`… when taken); returns the new path.
    @discardableResult
    func move(_ path: String, into directory: String, name: String) throws(ImagingError) -> String {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw ImagingError(.writeFailed, input: directory, reason: "cannot create the folder", remedy: "check the annotations folder's permissions")
        }
        var target = directory + "/" + name, n = 1
        var st = stat()
        while lstat(target, &st) == 0 {
            n += 1
            target = directory + "/\(name)-\(n)"
        }
        guard rename(path, target) == 0 else {
            throw ImagingError(.writeFailed, input: path, reason: "cannot move the case to \(target) (errno \(errno))",
                               remedy: "keep annotations/ on one file system and writable by segvol")
        }
        try? syncDirectory(directory)
        return target
    }
}
