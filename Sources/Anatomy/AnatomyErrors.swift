import ImagingCore

extension ImagingError.Code {
    /// The label catalog file is missing, is not valid TOML, or an entry breaks a rule.
    public static let catalogInvalid = Self("catalog_invalid")
    /// No configuration folder holding the label catalog could be found.
    public static let configNotFound = Self("config_not_found")
    /// A case's label sidecar names unknown classes or is not valid JSON.
    public static let caseLabelsInvalid = Self("case_labels_invalid")
}
