import ImagingCore

extension ImagingError.Code {
    /// The training data folder holds no usable case, or a case is incomplete or inconsistent
    /// with the plan (missing file, unlisted label value, region the plan does not cover).
    public static let trainingDataInvalid = Self("training_data_invalid")
    /// `split.json` cannot be read or is not a segvol split file.
    public static let splitInvalid = Self("split_invalid")
    /// The resume state in the output folder does not belong to this run (other plan, data or
    /// options), or cannot be read.
    public static let trainingStateInvalid = Self("training_state_invalid")
    /// A `segvol bench partial-labels --configs` entry that names no configuration or has a bad
    /// loss string.
    public static let benchConfigurationInvalid = Self("bench_configuration_invalid")
}
