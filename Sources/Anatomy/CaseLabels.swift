import Foundation
import ImagingCore

/// What one value of a case's label map means: one class, or a super label (several classes
/// merged, e.g. the adductors and IMAF drawn as one region).
public enum LabelTarget: Equatable, Hashable, Sendable, Codable {
    case single(String)
    case superLabel([String])

    /// The class names the value stands for.
    public var names: [String] {
        switch self {
        case .single(let n): [n]
        case .superLabel(let ns): ns
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let name = try? c.decode(String.self) { self = .single(name) } else { self = .superLabel(try c.decode([String].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .single(let n): try c.encode(n)
        case .superLabel(let ns): try c.encode(ns)
        }
    }
}

/// The sidecar of one annotated case (`case.json`), shared by `segvol phantom` and the
/// annotation intake; format in docs/formats.md.
///
/// Label value 0 is always "not annotated / background". Every other value present in the
/// label map must be listed in `labels`. `present` lists the catalog classes the annotator
/// labelled everywhere they occur (the presence array `k`); a class may be drawn yet absent
/// from `present` (the IMAF workaround), and a super label's members are listed when the
/// super label was drawn everywhere.
public struct CaseLabels: Equatable, Sendable, Codable {
    /// The value of `format` in every sidecar.
    public static let formatName = "segvol-case-labels"

    public var format: String = CaseLabels.formatName
    public var version: Int = 1
    /// Pseudonymous subject id; all visits of a subject stay on one side of a split.
    public var subject: String
    /// Visit number (1-based) when a subject has several scans.
    public var visit: Int?
    /// Source dataset name (e.g. `calf-muscle`); training stratifies batches by it.
    public var dataset: String
    public var region: Region
    /// Label-map value → class name or list of names.
    public var labels: [Int: LabelTarget]
    /// Names of the annotated classes.
    public var present: [String]
    /// Where the annotation came from (e.g. `annotation`, `correction`; free text, optional).
    public var source: String?
    /// A processed job (`outbox/<job>`, or `<job>/series<N>`) whose image this label map
    /// annotates, instead of an image in the case folder (annotation intake only).
    public var job: String?

    public init(subject: String, visit: Int? = nil, dataset: String, region: Region,
                labels: [Int: LabelTarget], present: [String]) {
        self.subject = subject
        self.visit = visit
        self.dataset = dataset
        self.region = region
        self.labels = labels
        self.present = present
    }

    enum CodingKeys: String, CodingKey { case format, version, subject, visit, dataset, region, labels, present, source, job }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        format = try c.decode(String.self, forKey: .format)
        version = try c.decode(Int.self, forKey: .version)
        subject = try c.decode(String.self, forKey: .subject)
        visit = try c.decodeIfPresent(Int.self, forKey: .visit)
        dataset = try c.decode(String.self, forKey: .dataset)
        region = try c.decode(Region.self, forKey: .region)
        present = try c.decode([String].self, forKey: .present)
        source = try c.decodeIfPresent(String.self, forKey: .source)
        job = try c.decodeIfPresent(String.self, forKey: .job)
        let raw = try c.decode([String: LabelTarget].self, forKey: .labels)
        var labels: [Int: LabelTarget] = [:]
        for (key, target) in raw {
            guard let value = Int(key) else {
                throw DecodingError.dataCorruptedError(forKey: .labels, in: c, debugDescription: "label value '\(key)' is not an integer")
            }
            labels[value] = target
        }
        self.labels = labels
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(format, forKey: .format)
        try c.encode(version, forKey: .version)
        try c.encode(subject, forKey: .subject)
        try c.encodeIfPresent(visit, forKey: .visit)
        try c.encode(dataset, forKey: .dataset)
        try c.encode(region, forKey: .region)
        try c.encode(Dictionary(uniqueKeysWithValues: labels.map { (String($0.key), $0.value) }), forKey: .labels)
        try c.encode(present, forKey: .present)
        try c.encodeIfPresent(source, forKey: .source)
        try c.encodeIfPresent(job, forKey: .job)
    }

    /// Checks names against the catalog and the rules above; the error names the entry.
    public func validate(against catalog: LabelCatalog, source: String = "case.json") throws(ImagingError) {
        func fail(_ why: String) -> ImagingError {
            ImagingError(.caseLabelsInvalid, input: source, reason: why,
                         remedy: "fix the case's label sidecar; see docs/formats.md")
        }
        guard format == Self.formatName, version == 1 else { throw fail("format must be '\(Self.formatName)' version 1") }
        var seen: [String: Int] = [:]
        for (value, target) in labels.sorted(by: { $0.key < $1.key }) {
            guard value >= 1 && value <= 65535 else { throw fail("label value \(value) must be in 1...65535 (0 is background)") }
            if case .superLabel(let names) = target, names.count < 2 { throw fail("super label \(value) must list at least two classes") }
            for name in target.names {
                guard let c = catalog.class(named: name) else { throw fail("label value \(value): unknown class '\(name)'") }
                guard c.regions.contains(region) else { throw fail("label value \(value): class '\(name)' is not a \(region.rawValue) class") }
                if let other = seen[name] { throw fail("class '\(name)' is mapped by both values \(other) and \(value)") }
                seen[name] = value
            }
        }
        for name in present {
            guard let c = catalog.class(named: name) else { throw fail("present: unknown class '\(name)'") }
            guard c.regions.contains(region) else { throw fail("present: class '\(name)' is not a \(region.rawValue) class") }
        }
    }

    /// The presence array over `catalog` (call `validate` first).
    public func presence(in catalog: LabelCatalog) -> PresenceArray { PresenceArray(catalog: catalog, present: present) }

    /// Stable pretty JSON (sorted keys).
    public func jsonBytes() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try encoder.encode(self))
    }

    /// Reads a sidecar; not checked against a catalog.
    public static func read(path: String) throws(ImagingError) -> CaseLabels {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ImagingError(.caseLabelsInvalid, input: path, reason: "the label sidecar cannot be read",
                               remedy: "put case.json beside the case's label map")
        }
        do {
            return try JSONDecoder().decode(CaseLabels.self, from: data)
        } catch {
            throw ImagingError(.caseLabelsInvalid, input: path, reason: "not a valid label sidecar (\(LabelCatalog.describe(error)))",
                               remedy: "see docs/formats.md for the sidecar format")
        }
    }
}
