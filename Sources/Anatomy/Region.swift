/// A body region a scan covers; it selects the classes a segmentation may output.
public enum Region: String, CaseIterable, Codable, Sendable, Comparable {
    case thigh
    case calf
    case abdomen

    public static func < (a: Region, b: Region) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// The tissue family of a class; reports and QC pictures group classes by it.
public enum TissueGroup: String, CaseIterable, Codable, Sendable {
    case muscle
    case adipose
    case bone
    case vessel
    case organ
    /// Fascia and other connective tissue sheets.
    case connective
}
