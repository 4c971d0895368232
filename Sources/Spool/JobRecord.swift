import Foundation

/// The state file `job.json` of one job, written durably at each transition.
///
/// On disk a job is: pending or in progress — `work/<job>/` (state `claiming`, `pending` or
/// `running`); done — `outbox/<job>/manifest.json` with the input in `archive/<job>/` (or
/// deleted per retention); failed — `failed/<job>/` with `reason.json`. Exactly one of these
/// holds for every claimed input (invariant I1).
public struct JobRecord: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        /// Written before the claim's rename; with no input beside it, the claim never happened.
        case claiming
        case pending
        case running
        case done
        case failed
    }

    /// PHI-free id: UTC claim time and 32 random bits, e.g. `20261123T051200Z-3fa9c2d1`.
    public var id: String
    /// Inbox region (`thigh`, `calf`, `abdomen`, `auto`).
    public var region: String
    /// The name the operator gave the drop (file or folder name in the inbox).
    public var dropName: String
    public var state: State
    /// Worker runs started so far.
    public var attempts: Int
    /// Claim time, seconds since the epoch.
    public var claimedAt: Double
    /// No new attempt before this time (back-off), seconds since the epoch.
    public var notBefore: Double
    /// Why the last attempt failed, for the operator.
    public var lastFailure: String?
    /// The worker's PID while running (recovery kills a worker left over from a crashed daemon).
    public var workerPID: Int32?
    /// When the job reached done or failed, seconds since the epoch (retention counts from here).
    public var finishedAt: Double?

    public init(id: String, region: String, dropName: String, state: State, attempts: Int = 0,
                claimedAt: Double, notBefore: Double = 0, lastFailure: String? = nil) {
        self.id = id
        self.region = region
        self.dropName = dropName
        self.state = state
        self.attempts = attempts
        self.claimedAt = claimedAt
        self.notBefore = notBefore
        self.lastFailure = lastFailure
    }

    /// A new PHI-free job id.
    public static func newID(now: Date = Date()) -> String {
        var t = time_t(now.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&t, &parts)
        let stamp = String(format: "%04d%02d%02dT%02d%02d%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                           Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
        return stamp + "-" + String(format: "%08x", UInt32.random(in: 0...UInt32.max))
    }

    /// True for names that `newID` produces (anything else in work/ is not a job).
    public static func isJobID(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard bytes.count == 25, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z"), bytes[16] == UInt8(ascii: "-") else { return false }
        return bytes.enumerated().allSatisfy { index, b in
            [8, 15, 16].contains(index) || (b >= 48 && b <= 57) || (index > 16 && b >= 97 && b <= 102)
        }
    }
}

/// `reason.json` in failed/<job>/: what an operator (and a script) needs to act.
public struct FailureReason: Codable, Sendable, Equatable {
    /// Stable reason code (docs/operations.md and docs/errors.md list them).
    public var code: String
    /// A sentence for the operator: what went wrong and what to do.
    public var message: String
    /// The stage that failed: intake, precheck, convert, write, worker.
    public var stage: String
    /// Worker runs made.
    public var attempts: Int
    /// When the job failed, ISO 8601 UTC.
    public var failedAt: String

    public init(code: String, message: String, stage: String, attempts: Int, failedAt: Date = Date()) {
        self.code = code
        self.message = message
        self.stage = stage
        self.attempts = attempts
        let f = ISO8601DateFormatter()
        self.failedAt = f.string(from: failedAt)
    }
}

/// JSON encoding used for every spool file: sorted keys, pretty, stable across runs.
func encodeJSON<T: Encodable>(_ value: T) -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return Array(try! encoder.encode(value)) + [10]
}
