import Anatomy
import Foundation
import ImagingCore
import Segmentation
#if canImport(Glibc)
import Glibc
#endif

/// The model registry: `models/<version>/` folders that never change once registered,
/// `models/current` (a relative symlink to one of them) and `models/history.json`.
///
/// Layout and rules (docs/retraining.md):
/// - A version folder holds plan.json, weights.safetensors, metrics.json (and MODEL.md,
///   report.md, report.json when the candidate had them), provenance.json and, for gated
///   candidates, decision.json. It is built under `.tmp-<version>-<pid>`, every file written
///   durably, made read-only (files 0444, folder 0555), then renamed into place: a version
///   folder is complete or absent.
/// - `current` switches by creating `.current.tmp-<pid>` and renaming it over `current`
///   (rename(2) is atomic), then fsyncing the folder. history.json is written (durably) before
///   the switch; `recover()` completes a switch a crash interrupted and removes temporaries.
/// - Mutations hold an exclusive flock on `models/.lock` (released by the kernel if the process
///   dies), so the CLI and a training run never interleave.
public final class ModelRegistry: @unchecked Sendable {
    // Immutable after init; file-system state is guarded by the flock.
    public let directory: String
    /// Test hook: the named step (`register-staged`, `switch-history`, `switch-temp-link`,
    /// `switch-renamed`) kills the process with SIGKILL. Set by the CLI from
    /// `SEGVOL_TEST_CRASH_AT`; nil in production.
    let crashPoint: String?
    let now: @Sendable () -> Date

    public static let currentLink = "current"
    public static let historyFile = "history.json"
    public static let provenanceFile = "provenance.json"
    public static let decisionFile = "decision.json"
    public static let crashEnvironmentKey = "SEGVOL_TEST_CRASH_AT"
    /// The files copied from a candidate folder (plan and weights required).
    static let copiedFiles = ["plan.json", "weights.safetensors", "metrics.json", "MODEL.md", "report.md", "report.json"]

    public init(directory: String, crashPoint: String? = nil, now: @escaping @Sendable () -> Date = { Date() }) {
        self.directory = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        self.crashPoint = crashPoint
        self.now = now
    }

    public var currentPath: String { directory + "/" + Self.currentLink }
    public func path(of version: String) -> String { directory + "/" + version }

    // MARK: Queries (no lock: every file they read is replaced atomically)

    /// One registered version.
    public struct VersionInfo: Sendable {
        public var version: String
        public var path: String
        public var provenance: ModelProvenance
        public var isCurrent: Bool
    }

    /// The version `current` points to, nil when there is none (or it dangles).
    public func currentVersion() -> String? {
        guard let target = FileSteps.readLink(currentPath) else { return nil }
        let name = (target as NSString).lastPathComponent
        return FileSteps.isDirectory(path(of: name)) ? name : nil
    }

    /// The folder of the current version (symlink resolved), nil when there is none. A training
    /// run fine-tunes and scores this folder, so the gate compares against the model that is
    /// actually current.
    public func currentFolder() -> String? { currentVersion().map(path(of:)) }

    /// Every registered version, oldest first (by registration time, then name).
    public func versions() -> [VersionInfo] {
        let current = currentVersion()
        var out: [VersionInfo] = []
        for name in FileSteps.list(directory) where VersionID.isValid(name) && FileSteps.isDirectory(path(of: name)) {
            guard let p = try? provenance(of: name) else { continue }
            out.append(VersionInfo(version: name, path: path(of: name), provenance: p, isCurrent: name == current))
        }
        return out.sorted { ($0.provenance.created, $0.version) < ($1.provenance.created, $1.version) }
    }

    /// provenance.json of a version; `model_version_unknown` when there is no such version.
    public func provenance(of version: String) throws(ImagingError) -> ModelProvenance {
        guard VersionID.isValid(version), FileSteps.isDirectory(path(of: version)) else {
            throw ImagingError(.modelVersionUnknown, input: version, reason: "the registry \(directory) holds no such version",
                               remedy: "list the versions with `segvol models list`")
        }
        let file = path(of: version) + "/" + Self.provenanceFile
        guard let data = FileManager.default.contents(atPath: file),
              let p = try? JSONDecoder().decode(ModelProvenance.self, from: data) else {
            throw ImagingError(.registryInvalid, input: file, reason: "the version has no readable provenance record",
                               remedy: "the folder was not made by the registry or was damaged; register the model again")
        }
        return p
    }

    /// decision.json of a gated version, nil for the base and hand-registered versions.
    public func decision(of version: String) -> GateDecision? {
        guard let data = FileManager.default.contents(atPath: path(of: version) + "/" + Self.decisionFile) else { return nil }
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try? d.decode(GateDecision.self, from: data)
    }

    /// history.json (empty when there is none yet).
    public func history() throws(ImagingError) -> RegistryHistory {
        let file = directory + "/" + Self.historyFile
        guard FileSteps.lstatOrNil(file) != nil else { return RegistryHistory() }
        guard let data = FileManager.default.contents(atPath: file),
              let h = try? JSONDecoder().decode(RegistryHistory.self, from: data) else {
            throw ImagingError(.registryInvalid, input: file, reason: "the history cannot be read",
                               remedy: "restore history.json from a backup, or delete it: `current` stays and becomes the only entry")
        }
        return h
    }

    /// Recomputes the hashes of a version's weights and plan against its provenance record.
    public func verify(_ version: String) throws(ImagingError) -> ModelProvenance {
        let p = try provenance(of: version)
        let folder = path(of: version)
        let weights = try FileSteps.sha256(folder + "/" + ModelFolder.weightsFile)
        let plan = try FileSteps.sha256(folder + "/" + ModelFolder.planFile)
        guard weights == p.weightsSHA256, plan == p.planSHA256 else {
            throw ImagingError(.registryInvalid, input: folder,
                               reason: "the \(weights == p.weightsSHA256 ? "plan" : "weights") changed after registration (SHA-256 differs from provenance.json)",
                               remedy: "register the intended model again as a new version; registered versions must not be edited")
        }
        return p
    }

    // MARK: Registering

    /// Registers a candidate model folder as a new immutable version and returns its id. Does
    /// not switch `current`. The folder must open and load (plan checked against the label
    /// catalog, weights fitting the plan). `version` overrides the generated id (the base).
    @discardableResult
    public func register(candidate: String, parent: String?, gate: GateOutcome, decision: GateDecision? = nil,
                         version: String? = nil, catalog: LabelCatalog? = nil) throws(ImagingError) -> String {
        try prepareDirectory()
        return try withLock { () throws(ImagingError) in
            try removeTemporaries()
            return try registerLocked(candidate: candidate, parent: parent, gate: gate, decision: decision, version: version, catalog: catalog)
        }
    }

    func registerLocked(candidate: String, parent: String?, gate: GateOutcome, decision: GateDecision?, version: String?,
                        catalog: LabelCatalog?) throws(ImagingError) -> String {
        let labels: LabelCatalog
        if let catalog { labels = catalog } else { labels = try LabelCatalog.load() }
        let folder = try ModelFolder.open(candidate, catalog: labels)
        _ = try folder.loadNetwork(threadCount: 1)
        let weightsHash = try FileSteps.sha256(candidate + "/" + ModelFolder.weightsFile)
        let planHash = try FileSteps.sha256(candidate + "/" + ModelFolder.planFile)
        let date = now()
        let id = version ?? VersionID.make(date: date, weightsSHA256: weightsHash)
        guard FileSteps.lstatOrNil(path(of: id)) == nil else {
            throw ImagingError(.modelVersionExists, input: id, reason: "the registry already holds this version",
                               remedy: "the same weights were registered less than a minute ago; use the existing version")
        }
        let staging = directory + "/.tmp-\(id)-\(getpid())"
        try FileSteps.remove(staging)
        if mkdir(staging, 0o755) != 0 { throw FileSteps.fail("mkdir", staging, errno) }
        do throws(ImagingError) {
            for name in Self.copiedFiles where FileSteps.lstatOrNil(candidate + "/" + name) != nil {
                try FileSteps.copy(candidate + "/" + name, to: staging + "/" + name)
            }
            let metrics = FileManager.default.contents(atPath: candidate + "/" + ModelFolder.metricsFile)
                .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
            let p = ModelProvenance(version: id, parentVersion: parent, dataSnapshotHash: metrics["dataSnapshotHash"] as? String,
                                    loss: metrics["loss"] as? String, steps: metrics["steps"] as? Int, created: VersionID.iso(date),
                                    weightsSHA256: weightsHash, planSHA256: planHash, gate: gate, gateReasons: decision?.reasons ?? [])
            try FileSteps.write(Self.json(p), to: staging + "/" + Self.provenanceFile)
            if var decision {
                decision.candidateVersion = id
                try FileSteps.write(Self.json(decision), to: staging + "/" + Self.decisionFile)
            }
            // The copy must still be what was hashed (a candidate rewritten meanwhile is refused).
            guard try FileSteps.sha256(staging + "/" + ModelFolder.weightsFile) == weightsHash else {
                throw ImagingError(.modelInvalid, input: candidate, reason: "the weights changed while they were copied",
                                   remedy: "register the candidate once its training run has finished")
            }
            try FileSteps.makeReadOnly(folder: staging)
            try FileSteps.syncDirectory(staging)
            crash("register-staged")
            if rename(staging, path(of: id)) != 0 { throw FileSteps.fail("rename", staging, errno) }
            try FileSteps.syncDirectory(directory)
        } catch {
            try? FileSteps.remove(staging)
            throw error
        }
        return id
    }

    // MARK: Helpers

    /// Creates the registry folder when missing.
    func prepareDirectory() throws(ImagingError) {
        if FileSteps.isDirectory(directory) { return }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ImagingError(.registryNotWritable, input: directory, reason: "the models folder cannot be created (\(error.localizedDescription))",
                               remedy: "create it writable by the daemon's user, or set retrain.models_dir")
        }
    }

    /// Runs `body` holding the exclusive lock `models/.lock`.
    func withLock<T>(_ body: () throws(ImagingError) -> T) throws(ImagingError) -> T {
        let lockPath = directory + "/.lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw FileSteps.fail("open", lockPath, errno) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw FileSteps.fail("flock", lockPath, errno) }
        }
        return try body()
    }

    /// The test hook (see `crashPoint`).
    func crash(_ point: String) {
        if crashPoint == point { kill(getpid(), SIGKILL) }
    }

    static func json<T: Encodable>(_ value: T) -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        // A NaN score (a diverged candidate) must still be recorded, not fail the encoding.
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return Array((try? e.encode(value)) ?? Data()) + [10]
    }
}
