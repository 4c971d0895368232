import Anatomy
import Foundation
import ImagingCore

/// Reads an annotation's `case.json`: the `CaseLabels` sidecar (docs/formats.md), where an
/// operator may leave out what the folder already says. `format`/`version` default to the
/// current ones, `region` to the region folder (a different one is refused), `dataset` to
/// `site-<region>`, `source` to `annotation` (`correction` with a `job`).
public enum AnnotationSidecar {
    public static func read(path: String, region: Region) throws(ImagingError) -> CaseLabels {
        func fail(_ why: String) -> ImagingError {
            ImagingError(.annotationSidecarInvalid, input: path, reason: why,
                         remedy: "write case.json as docs/formats.md describes (labels, present, subject), then move the case back into annotations/\(region.rawValue)/")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw fail("the case has no readable case.json")
        }
        guard var object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw fail("case.json is not a JSON object")
        }
        if let given = object["region"] as? String, given != region.rawValue {
            throw fail("case.json says region '\(given)' but the case is in the \(region.rawValue) folder")
        }
        object["region"] = region.rawValue
        if object["format"] == nil { object["format"] = CaseLabels.formatName }
        if object["version"] == nil { object["version"] = 1 }
        if object["dataset"] == nil { object["dataset"] = "site-\(region.rawValue)" }
        if object["source"] == nil { object["source"] = object["job"] == nil ? "annotation" : "correction" }
        do {
            let json = try JSONSerialization.data(withJSONObject: object)
            let labels = try JSONDecoder().decode(CaseLabels.self, from: json)
            guard !labels.subject.trimmingCharacters(in: .whitespaces).isEmpty else { throw fail("subject is empty") }
            return labels
        } catch let e as ImagingError {
            throw e
        } catch {
            throw fail("not a valid label sidecar (\(describe(error)))")
        }
    }

    /// Checks names (unknown → `annotation_unknown_class`) and the other sidecar rules
    /// (→ `annotation_sidecar_invalid`).
    public static func validate(_ labels: CaseLabels, catalog: LabelCatalog, path: String) throws(ImagingError) {
        let names = labels.labels.sorted { $0.key < $1.key }.flatMap { $0.value.names } + labels.present
        let unknown = names.filter { catalog.class(named: $0) == nil }
        if !unknown.isEmpty {
            throw ImagingError(.annotationUnknownClass, input: path,
                               reason: "unknown class name(s): \(Array(Set(unknown)).sorted().joined(separator: ", "))",
                               remedy: "use the class names of the label catalog (labels.toml, docs/formats.md), then move the case back")
        }
        do { try labels.validate(against: catalog, source: path) } catch {
            throw ImagingError(.annotationSidecarInvalid, input: path, reason: error.reason, remedy: error.remedy + ", then move the case back")
        }
        if let job = labels.job {
            guard !job.isEmpty, !job.hasPrefix("/"), !job.split(separator: "/").contains(where: { $0 == ".." || $0 == "." || $0.hasPrefix(".") }) else {
                throw ImagingError(.annotationSidecarInvalid, input: path, reason: "job '\(job)' is not a job id (or <job>/series<N>)",
                                   remedy: "name the job folder of outbox/ whose output was corrected")
            }
        }
    }
}

/// A decoding error in a few words (the key that is missing or wrong).
func describe(_ error: Error) -> String {
    switch error {
    case DecodingError.keyNotFound(let key, _): "missing key '\(key.stringValue)'"
    case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
        "bad value at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
    case DecodingError.dataCorrupted(let c): c.debugDescription
    default: "\(error)"
    }
}
