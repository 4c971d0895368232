/// The key events the daemon logs, each with a fixed journald MESSAGE_ID (128-bit, written as
/// 32 lowercase hex digits). Code logs an event by putting `event: "<rawValue>"` in the log
/// metadata; the journald handler turns it into MESSAGE_ID. Listed in docs/operations.md, so
/// `journalctl MESSAGE_ID=…` finds every occurrence. Never change an id once released.
public enum SegvolEvent: String, CaseIterable, Sendable {
    /// A job finished; its outputs are durable in outbox/<job>/.
    case jobDone = "job.done"
    /// A job failed for good; failed/<job>/ holds the input and reason.json.
    case jobFailed = "job.failed"
    /// A drop was refused before processing (symlink, FIFO, device, hard link, unreadable).
    case dropIgnored = "drop.ignored"
    /// Free space fell below the watermark; intake is paused until it returns.
    case diskLow = "disk.low"
    /// A model was loaded (at start-up or on reload).
    case modelLoaded = "model.loaded"
    /// A retrained model passed the gate and became current (`segvol models`, docs/retraining.md).
    case modelPromoted = "model.promoted"
    /// A retrained model failed the gate; the current model stays.
    case modelRejected = "model.rejected"
    /// An annotated case passed the intake checks and entered the dataset store
    /// (`segvol annotations ingest`, the intake of `segvol train --config`).
    case annotationAccepted = "annotation.accepted"
    /// An annotated case was refused; it is in annotations/failed/ with reason.json.
    case annotationRefused = "annotation.refused"
    /// The configuration was reloaded on SIGHUP (or the reload was refused, keeping the old one).
    case reload = "reload"

    /// The journald MESSAGE_ID.
    public var messageID: String {
        switch self {
        case .jobDone: "99022379c75541f08a8c3f154cdd5f77"
        case .jobFailed: "be680d1b4f374b049fff4e5632cbdddd"
        case .dropIgnored: "993122e8edea42d18aac325d64e6a802"
        case .diskLow: "4779e7ea0a1d45238cb133c3138a0321"
        case .modelLoaded: "935bdd13e539497ab51be299b04fa0ff"
        case .reload: "7d1bbc901e984ff684211d5c35bcc523"
        case .modelPromoted: "1e61e76421694276b06e8db19e4e3e3b"
        case .modelRejected: "57f97381793848c4b0856717069454c6"
        case .annotationAccepted: "8e51ce2026cc425fab4c42b3ffc5380f"
        case .annotationRefused: "6961549132a64fdf8fb1174683ab0608"
        }
    }
}
