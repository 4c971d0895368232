/// What the gate said about a version when it was registered.
public enum GateOutcome: String, Codable, Sendable {
    /// Accepted by `ModelGate` (and promoted by `RetrainDecision.apply`).
    case accepted
    /// Rejected by `ModelGate`; `promote` needs `--force`.
    case rejected
    /// The shipped default imported as the registry's base.
    case base
    /// Registered by hand (`segvol models register`) without a gate decision.
    case unvalidated
}

/// `provenance.json` of a version folder: where the model came from, written once at registration.
public struct ModelProvenance: Codable, Sendable, Equatable {
    public var format = "segvol-model-provenance"
    public var formatVersion = 1
    /// The version id (the folder's name).
    public var version: String
    /// The version that was current when this one was registered (the model it was fine-tuned
    /// from); nil for the base.
    public var parentVersion: String?
    /// SHA-256 of the training data snapshot (metrics.json `dataSnapshotHash`), when known.
    public var dataSnapshotHash: String?
    /// The training loss (metrics.json `loss`), when known.
    public var loss: String?
    /// Training steps (metrics.json `steps`), when known.
    public var steps: Int?
    /// Registration time, ISO 8601 UTC.
    public var created: String
    /// SHA-256 of weights.safetensors and plan.json as registered.
    public var weightsSHA256: String
    public var planSHA256: String
    /// The gate's verdict (the full decision is `decision.json` beside it when there was one).
    public var gate: GateOutcome
    /// One line per gate reason (empty for the base and hand-registered versions).
    public var gateReasons: [String]

    public init(version: String, parentVersion: String?, dataSnapshotHash: String?, loss: String?, steps: Int?, created: String,
                weightsSHA256: String, planSHA256: String, gate: GateOutcome, gateReasons: [String]) {
        self.version = version
        self.parentVersion = parentVersion
        self.dataSnapshotHash = dataSnapshotHash
        self.loss = loss
        self.steps = steps
        self.created = created
        self.weightsSHA256 = weightsSHA256
        self.planSHA256 = planSHA256
        self.gate = gate
        self.gateReasons = gateReasons
    }
}

/// `history.json`: the stack of models that were current (last = current) and every switch.
/// `promote` pushes, `rollback` pops: rollback always returns to the model that was current
/// before the last promotion, and repeated rollbacks walk further back.
public struct RegistryHistory: Codable, Sendable, Equatable {
    public var format = "segvol-model-history"
    public var formatVersion = 1
    public var stack: [String] = []
    public var events: [Event] = []

    public struct Event: Codable, Sendable, Equatable {
        /// ISO 8601 UTC.
        public var time: String
        /// "base", "promote", "promote-forced", "rollback".
        public var action: String
        public var from: String?
        public var to: String
    }

    public init() {}
}
