import Anatomy
import ImagingCore

extension ImagingError.Code {
    /// The scan's body region could not be told from its metadata.
    public static let regionUnknown = Self("region_unknown")
}

/// Tells a scan's region from DICOM BodyPartExamined (0018,0015), then from the series
/// description. Used when the operator did not name the region.
///
/// BodyPartExamined is compared whole (upper-cased, spaces and '_' removed) with DICOM's defined
/// terms (PS3.16 Annex L): THIGH, UPPERLEG → thigh; LEG, LOWERLEG, CALF → calf (DICOM's LEG is
/// the lower leg); ABDOMEN, ABDOMENPELVIS, KIDNEY, LIVER, PANCREAS, SPLEEN, LSPINE → abdomen.
/// The description is split into words (letters only, upper-cased); a word matches when it is
/// one of THIGH, FEMUR, OBERSCHENKEL (thigh), CALF, LOWERLEG, TIBIA, WADE, UNTERSCHENKEL (calf),
/// ABDOMEN, ABD, ABDO, LIVER, KIDNEY, KIDNEYS, PANCREAS, ABDOMINAL (abdomen); "LOWER LEG" and
/// "UPPER LEG" count as LOWERLEG and UPPERLEG. A source that points at two regions says nothing.
public enum RegionDetection {
    static let bodyParts: [String: Region] = [
        "THIGH": .thigh, "UPPERLEG": .thigh, "FEMUR": .thigh,
        "LEG": .calf, "LOWERLEG": .calf, "CALF": .calf,
        "ABDOMEN": .abdomen, "ABDOMENPELVIS": .abdomen, "KIDNEY": .abdomen, "LIVER": .abdomen,
        "PANCREAS": .abdomen, "SPLEEN": .abdomen, "LSPINE": .abdomen,
    ]
    static let words: [String: Region] = [
        "THIGH": .thigh, "FEMUR": .thigh, "OBERSCHENKEL": .thigh, "UPPERLEG": .thigh, "THIGHS": .thigh,
        "CALF": .calf, "CALVES": .calf, "LOWERLEG": .calf, "TIBIA": .calf, "WADE": .calf, "UNTERSCHENKEL": .calf,
        "ABDOMEN": .abdomen, "ABD": .abdomen, "ABDO": .abdomen, "ABDOMINAL": .abdomen, "LIVER": .abdomen,
        "KIDNEY": .abdomen, "KIDNEYS": .abdomen, "PANCREAS": .abdomen,
    ]

    /// The region, or nil when neither source names exactly one.
    public static func region(bodyPart: String?, description: String?) -> Region? {
        if let bodyPart {
            let key = String(bodyPart.uppercased().unicodeScalars.filter { $0 != " " && $0 != "_" && $0 != "-" })
            if let r = bodyParts[key] { return r }
        }
        guard let description else { return nil }
        var tokens: [String] = []
        var current = ""
        for ch in description.uppercased().unicodeScalars {
            if ("A"..."Z").contains(ch) { current.unicodeScalars.append(ch) } else if !current.isEmpty {
                tokens.append(current)
                current = ""
            }
        }
        if !current.isEmpty { tokens.append(current) }
        var found = Set<Region>()
        for (n, t) in tokens.enumerated() {
            if let r = words[t] { found.insert(r) }
            if n + 1 < tokens.count, tokens[n + 1] == "LEG" {
                if t == "LOWER" { found.insert(.calf) }
                if t == "UPPER" { found.insert(.thigh) }
            }
        }
        return found.count == 1 ? found.first : nil
    }

    /// The region of `metadata`, or `region_unknown` saying what was found and what to do.
    public static func region(of metadata: ScanMetadata, input: String) throws(ImagingError) -> Region {
        if let r = region(bodyPart: metadata.bodyPartExamined, description: metadata.seriesDescription) { return r }
        let seen = "BodyPartExamined \(metadata.bodyPartExamined.map { "'\($0)'" } ?? "absent"), series description \(metadata.seriesDescription == nil ? "absent" : "naming no single region")"
        throw ImagingError(.regionUnknown, input: input,
                           reason: "the body region cannot be told from the scan (\(seen))",
                           remedy: "name it with --region thigh|calf|abdomen, or drop the scan into the region's inbox")
    }
}
