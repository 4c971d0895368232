#if canImport(Glibc)
import Glibc
#endif

/// What a drop looks like from `lstat` alone (no file is opened): changes in any field restart
/// its quiet time.
public struct DropSignature: Equatable, Sendable {
    /// A folder drop (DICOM series) rather than a single file.
    public var isFolder: Bool
    /// Regular files that will be processed (temporary names excluded).
    public var fileCount: Int
    /// Bytes of every entry, temporary names included (a growing `.x.part` still counts).
    public var totalBytes: Int64
    /// Newest mtime of any entry, folders included (adding or removing a file changes it).
    public var newestMtime: Int64
    /// A `*.part` or `*.tmp` entry is present: a copy is still running, never settled.
    public var inProgress: Bool
    /// Why the drop must be refused (symlink, FIFO, device, socket, hard link, too large), or nil.
    public var refusal: String?
    public var refusalCode: SpoolError.Code?
    /// How many `*.part`/`*.tmp` entries the folder holds (named in an `incomplete_transfer` refusal).
    public var partialFiles: Int = 0
}

/// Inspects drops with `lstat` only: never opens a file, never follows a symlink.
public enum DropInspector {
    /// Deepest folder nesting accepted in a drop.
    public static let maxDepth = 32
    /// Most entries accepted in one drop.
    public static let maxEntries = 200_000

    /// Names an entry without its name (names may identify patients, invariant I6).
    static func where_(_ relative: String, _ depth: Int) -> String {
        relative.isEmpty ? "the drop" : "an entry \(depth) folder level\(depth == 1 ? "" : "s") down"
    }

    /// The drop's signature, or nil when it vanished meanwhile.
    public static func inspect(_ path: String) throws(SystemCallError) -> DropSignature? {
        guard let st = try lstatOrNil(path) else { return nil }
        var sig = DropSignature(isFolder: st.isDirectory, fileCount: 0, totalBytes: 0, newestMtime: st.mtimeNanoseconds,
                                inProgress: false, refusal: nil, refusalCode: nil)
        var entries = 0
        func visit(_ path: String, _ st: stat, relative: String, depth: Int) throws(SystemCallError) {
            entries += 1
            sig.newestMtime = max(sig.newestMtime, st.mtimeNanoseconds)
            if entries > maxEntries || depth > maxDepth {
                if sig.refusal == nil {
                    sig.refusal = "more than \(maxEntries) entries or \(maxDepth) folder levels"
                    sig.refusalCode = .tooLarge
                }
                return
            }
            let name = relative.split(separator: "/").last.map(String.init) ?? relative
            if st.isDirectory {
                for child in try listDirectory(path) {
                    let childPath = path + "/" + child
                    guard let cst = try lstatOrNil(childPath) else { continue }
                    try visit(childPath, cst, relative: relative.isEmpty ? child : relative + "/" + child, depth: depth + 1)
                }
                return
            }
            sig.totalBytes += Int64(st.st_size)
            if name.hasSuffix(".part") || name.hasSuffix(".tmp") {
                sig.inProgress = true
                sig.partialFiles += 1
                return
            }
            if name.hasPrefix(".") { return }
            if !st.isRegular {
                if sig.refusal == nil {
                    sig.refusal = "\(Self.where_(relative, depth)) is a \(st.kindName); only regular files and folders are accepted (`find drop ! -type f ! -type d` in the failed job's folder lists it)"
                    sig.refusalCode = .unsafeInput
                }
                return
            }
            if st.st_nlink > 1 {
                if sig.refusal == nil {
                    sig.refusal = "\(Self.where_(relative, depth)) is a hard link (\(st.st_nlink) names); copy the file instead of linking it (`find drop -type f -links +1` in the failed job's folder lists it)"
                    sig.refusalCode = .unsafeInput
                }
                return
            }
            sig.fileCount += 1
        }
        try visit(path, st, relative: "", depth: 0)
        return sig
    }
}

/// What `Settler.settle` decided about one observation of a drop.
public enum Settlement: Sendable, Equatable {
    /// Changed recently, or a copy is in progress: look again later.
    case waiting
    /// Unchanged for its quiet time: claim it.
    case settled
    /// A folder with a `*.part`/`*.tmp` file, nothing in it changed for `stalePartialAfter`: the
    /// copy died. Claimed and failed with `incomplete_transfer` (nothing opened, nothing lost).
    case stalePartial
}

/// Tracks drops until they settle: unchanged signature for the quiet time on the monotonic
/// clock (`ContinuousClock` is CLOCK_MONOTONIC-based, so wall-clock jumps do not matter).
public struct Settler: Sendable {
    struct Entry: Sendable {
        var signature: DropSignature
        var since: ContinuousClock.Instant
    }

    var entries: [String: Entry] = [:]
    public var quietFolder: Duration
    public var quietFile: Duration
    /// How long a drop with a `*.part`/`*.tmp` file may stay unchanged before it counts as dead.
    public var stalePartialAfter: Duration

    public init(quietFolder: Duration, quietFile: Duration, stalePartialAfter: Duration = .seconds(3600)) {
        self.quietFolder = quietFolder
        self.quietFile = quietFile
        self.stalePartialAfter = stalePartialAfter
    }

    /// Records an observation; true when the drop has been unchanged for its quiet time.
    public mutating func observe(_ key: String, _ signature: DropSignature, now: ContinuousClock.Instant) -> Bool {
        settle(key, signature, now: now) == .settled
    }

    /// Records an observation and says whether the drop is settled, still waiting, or a dead
    /// copy (`stalePartial`). Any change in size, mtime or file count anywhere in the drop
    /// (a growing `.part` file included) restarts both clocks.
    public mutating func settle(_ key: String, _ signature: DropSignature, now: ContinuousClock.Instant) -> Settlement {
        if let old = entries[key], old.signature == signature {
            if signature.inProgress { return now - old.since >= stalePartialAfter ? .stalePartial : .waiting }
            return now - old.since >= (signature.isFolder ? quietFolder : quietFile) ? .settled : .waiting
        }
        entries[key] = Entry(signature: signature, since: now)
        return .waiting
    }

    /// Forgets drops not in `keys` (claimed or vanished).
    public mutating func retain(_ keys: Set<String>) {
        entries = entries.filter { keys.contains($0.key) }
    }

    public mutating func forget(_ key: String) { entries[key] = nil }

    /// Drops seen but not yet settled.
    public var waiting: Int { entries.count }
}
