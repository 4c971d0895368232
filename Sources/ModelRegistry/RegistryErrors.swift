import ImagingCore

extension ImagingError.Code {
    /// `segvol models show/promote` named a version the registry does not hold.
    public static let modelVersionUnknown = Self("model_version_unknown")
    /// A version with this id is already registered (the same weights registered twice in one minute).
    public static let modelVersionExists = Self("model_version_exists")
    /// `promote` of a version the gate rejected, without `--force`.
    public static let modelVersionRejected = Self("model_version_rejected")
    /// `rollback` with no earlier model in the history.
    public static let nothingToRollBack = Self("nothing_to_roll_back")
    /// The registry folder cannot be created or written (permissions, read-only file system).
    public static let registryNotWritable = Self("registry_not_writable")
    /// `history.json` or a version's `provenance.json` cannot be read, or a version's weights no
    /// longer match the SHA-256 recorded when it was registered.
    public static let registryInvalid = Self("registry_invalid")
}
