import Foundation
import ImagingCore
internal import TOMLKit

/// One class of the union label space.
public struct LabelClass: Equatable, Hashable, Sendable, Codable {
    /// Stable integer id, written into label maps; 0 is background and never a class.
    public var id: Int
    /// Stable snake_case name (`vastus_lateralis`), used in CSV columns, sidecars and models.
    public var name: String
    /// Regions whose scans may contain the class.
    public var regions: Set<Region>
    public var group: TissueGroup
    /// Display colour (r, g, b), 0...255 each.
    public var color: [UInt8]

    public init(id: Int, name: String, regions: Set<Region>, group: TissueGroup, color: [UInt8]) {
        self.id = id
        self.name = name
        self.regions = regions
        self.group = group
        self.color = color
    }
}

/// The union label space of every region, loaded from `Config/labels.toml` (format in
/// docs/formats.md). Classes are kept sorted by id; ids and names are unique.
public struct LabelCatalog: Equatable, Sendable {
    /// The catalog's file name inside a configuration folder.
    public static let fileName = "labels.toml"
    /// Largest id a class may have (label maps store ids as uint8 when they can).
    public static let maxID = 199

    public let classes: [LabelClass]
    private let byName: [String: Int]
    private let byID: [Int: Int]

    /// Builds a catalog, checking every rule; the error names the offending entry.
    public init(classes: [LabelClass], source: String = "label catalog") throws(ImagingError) {
        let sorted = classes.sorted { $0.id < $1.id }
        var names: [String: Int] = [:], ids: [Int: Int] = [:]
        for (index, c) in sorted.enumerated() {
            func fail(_ why: String) -> ImagingError {
                ImagingError(.catalogInvalid, input: source, reason: "class '\(c.name)' (id \(c.id)): \(why)",
                             remedy: "fix that entry in \(LabelCatalog.fileName); see docs/formats.md")
            }
            guard (1...Self.maxID).contains(c.id) else { throw fail("id must be in 1...\(Self.maxID) (0 is background)") }
            guard Self.isSnakeCase(c.name) else { throw fail("name must be snake_case: a-z, 0-9 and '_', starting with a letter") }
            if let other = names[c.name] { throw fail("name already used by the class with id \(sorted[other].id)") }
            if let other = ids[c.id] { throw fail("id already used by class '\(sorted[other].name)'") }
            guard !c.regions.isEmpty else { throw fail("regions must name at least one of \(Region.allCases.map(\.rawValue))") }
            guard c.color.count == 3 else { throw fail("color must be three numbers [r, g, b]") }
            names[c.name] = index
            ids[c.id] = index
        }
        self.classes = sorted
        self.byName = names
        self.byID = ids
    }

    public static func == (a: LabelCatalog, b: LabelCatalog) -> Bool { a.classes == b.classes }

    /// The class with this name, if any.
    public func `class`(named name: String) -> LabelClass? { byName[name].map { classes[$0] } }
    /// The class with this id, if any.
    public func `class`(id: Int) -> LabelClass? { byID[id].map { classes[$0] } }
    /// The classes a scan of `region` may contain, by id.
    public func classes(in region: Region) -> [LabelClass] { classes.filter { $0.regions.contains(region) } }
    /// The largest id in use.
    public var largestID: Int { classes.last?.id ?? 0 }

    static func isSnakeCase(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, ("a"..."z").contains(first) else { return false }
        return s.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }
}

// MARK: Loading

extension LabelCatalog {
    /// The file's shape before checking: strings and integers as written.
    struct RawFile: Decodable {
        var format_version: Int
        var `class`: [RawClass]
    }
    struct RawClass: Decodable {
        var id: Int
        var name: String
        var regions: [String]
        var group: String
        var color: [Int]
    }

    /// Loads and checks the catalog at `path` (a `labels.toml` file).
    public static func load(path: String) throws(ImagingError) -> LabelCatalog {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ImagingError(.catalogInvalid, input: path, reason: "the label catalog cannot be read",
                               remedy: "check the path, or set SEGVOL_CONFIG_DIR to the folder holding \(fileName)")
        }
        return try parse(String(decoding: data, as: UTF8.self), source: path)
    }

    /// Loads the catalog from a configuration folder located by `ConfigDirectory.locate`.
    public static func load(configDirectory explicit: String? = nil) throws(ImagingError) -> LabelCatalog {
        let dir = try ConfigDirectory.locate(explicit: explicit)
        return try load(path: dir + "/" + fileName)
    }

    /// Parses catalog text; `source` names the input in errors.
    public static func parse(_ text: String, source: String) throws(ImagingError) -> LabelCatalog {
        let raw: RawFile
        do {
            raw = try TOMLDecoder().decode(RawFile.self, from: text)
        } catch let error as TOMLParseError {
            throw ImagingError(.catalogInvalid, input: source,
                               reason: "not valid TOML at line \(error.source.begin.line): \(error.description)",
                               remedy: "fix the syntax; see docs/formats.md")
        } catch {
            throw ImagingError(.catalogInvalid, input: source,
                               reason: "an entry lacks a key or has a value of the wrong type (\(describe(error)))",
                               remedy: "every [[class]] needs id, name, regions, group and color; see docs/formats.md")
        }
        guard raw.format_version == 1 else {
            throw ImagingError(.catalogInvalid, input: source, reason: "format_version \(raw.format_version) is not 1",
                               remedy: "use a catalog written for this segvol version")
        }
        var classes: [LabelClass] = []
        for r in raw.class {
            func fail(_ why: String) -> ImagingError {
                ImagingError(.catalogInvalid, input: source, reason: "class '\(r.name)' (id \(r.id)): \(why)",
                             remedy: "fix that entry in \(fileName); see docs/formats.md")
            }
            var regions = Set<Region>()
            for name in r.regions {
                guard let region = Region(rawValue: name) else {
                    throw fail("unknown region '\(name)'; known: \(Region.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                regions.insert(region)
            }
            guard let group = TissueGroup(rawValue: r.group) else {
                throw fail("unknown group '\(r.group)'; known: \(TissueGroup.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard r.color.count == 3, r.color.allSatisfy({ (0...255).contains($0) }) else {
                throw fail("color must be three numbers in 0...255")
            }
            classes.append(LabelClass(id: r.id, name: r.name, regions: regions, group: group,
                                      color: r.color.map { UInt8($0) }))
        }
        return try LabelCatalog(classes: classes, source: source)
    }

    /// A short text for a decoding error: the coding path and what was wrong.
    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let ctx):
            return "missing '\(key.stringValue)' at \(path(ctx.codingPath))"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx),
             DecodingError.dataCorrupted(let ctx):
            return "bad value at \(path(ctx.codingPath))"
        default:
            return "\(error)"
        }
    }

    static func path(_ keys: [CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}
