import Foundation
import ImagingCore

/// One named class of a label map.
public struct LabelEntry: Equatable, Sendable, Codable {
    public var id: Int32
    public var name: String
    /// RGB, 0...255, when known.
    public var color: [UInt8]?

    public init(id: Int32, name: String, color: [UInt8]? = nil) {
        self.id = id
        self.name = name
        self.color = color
    }
}

/// The names (and colours) of a label map's ids.
public struct LabelTable: Equatable, Sendable, Codable {
    public var entries: [LabelEntry]

    public init(entries: [LabelEntry]) { self.entries = entries }

    /// The entry for `id`, if any.
    public func entry(for id: Int32) -> LabelEntry? { entries.first { $0.id == id } }
}

/// The label table as a NIfTI header extension, in the format TotalSegmentator writes
/// (`totalsegmentator/nifti_ext_header.py`, `add_label_map_to_nifti`):
///
/// - extension code **0** (`NIFTI_ECODE_IGNORE`, what nibabel's `Nifti1Extension(0, ...)` writes),
///   content UTF-8, padded with NULs so esize is a multiple of 16;
/// - content: a Caret/CIFTI-style XML document
///   `<?xml version="1.0" encoding="UTF-8"?> <CaretExtension>  <Date><![CDATA[2013-07-14T05:45:09]]></Date>
///   <VolumeInformation Index="0">   <LabelTable>` then one line per label
///   `<Label Key="1" Red="0.0" Green="1.0" Blue="0.0" Alpha="1"><![CDATA[spleen]]></Label>`
///   (colour components as fractions of 255), then `</LabelTable>  <StudyMetaDataLinkSet>
///   </StudyMetaDataLinkSet>  <VolumeType><![CDATA[Label]]></VolumeType>   </VolumeInformation></CaretExtension>`.
///
/// The reader accepts the table in an extension of any code, so Caret (30) and CIFTI (32) files work too.
enum LabelTableXML {
    /// TotalSegmentator's palette, used when an entry has no colour: `colors[id % 12]`.
    static let palette: [[UInt8]] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255], [0, 255, 255],
                                     [255, 128, 0], [255, 0, 128], [128, 255, 128], [0, 128, 255], [128, 128, 128], [185, 170, 155]]

    static func color(of entry: LabelEntry) -> [UInt8] {
        if let c = entry.color, c.count >= 3 { return Array(c.prefix(3)) }
        return palette[Int(entry.id.magnitude % 12)]
    }

    static func encode(_ table: LabelTable) -> String {
        let pre = #"<?xml version="1.0" encoding="UTF-8"?> <CaretExtension>  <Date><![CDATA[2013-07-14T05:45:09]]></Date>   <VolumeInformation Index="0">   <LabelTable>"#
        var body = ""
        for e in table.entries {
            let c = color(of: e).map { Double($0) / 255 }
            let name = e.name.replacingOccurrences(of: "]]>", with: "]]]]><![CDATA[>")
            body += #"<Label Key="\#(e.id)" Red="\#(c[0])" Green="\#(c[1])" Blue="\#(c[2])" Alpha="1"><![CDATA[\#(name)]]></Label>"# + "\n"
        }
        let post = #"  </LabelTable>  <StudyMetaDataLinkSet>  </StudyMetaDataLinkSet>  <VolumeType><![CDATA[Label]]></VolumeType>   </VolumeInformation></CaretExtension>"#
        return pre + "\n" + body + "\n" + post + "\n              "
    }

    /// Parses `<Label Key=".." Red=".." ...>name</Label>` elements inside a `<LabelTable>`.
    /// Returns nil when the content holds no label table. A small scanner, not a general XML
    /// parser: it reads the attributes and text segvol needs and ignores the rest.
    static func decode(_ content: [UInt8]) -> LabelTable? {
        let text = String(decoding: content.prefix { $0 != 0 }, as: UTF8.self)
        guard let tableStart = text.range(of: "<LabelTable") else { return nil }
        var rest = text[tableStart.upperBound...]
        if let end = rest.range(of: "</LabelTable>") { rest = rest[..<end.lowerBound] }
        var entries: [LabelEntry] = []
        while let open = rest.range(of: "<Label") {
            let afterName = rest[open.upperBound...]
            guard let tagEnd = afterName.firstIndex(of: ">") else { break }
            let attributes = parseAttributes(afterName[..<tagEnd])
            var inner = afterName[afterName.index(after: tagEnd)...]
            guard let close = inner.range(of: "</Label>") else { break }
            rest = inner[close.upperBound...]
            inner = inner[..<close.lowerBound]
            guard let key = attributes["Key"].flatMap({ Int32($0.trimmingCharacters(in: .whitespaces)) }) else { continue }
            var color: [UInt8]?
            if let r = attributes["Red"].flatMap(Double.init), let g = attributes["Green"].flatMap(Double.init),
               let b = attributes["Blue"].flatMap(Double.init) {
                color = [r, g, b].map { $0.isFinite ? UInt8(max(0, min(255, ($0 * 255).rounded()))) : 0 }
            }
            entries.append(LabelEntry(id: key, name: textContent(inner), color: color))
        }
        return entries.isEmpty ? nil : LabelTable(entries: entries)
    }

    private static func parseAttributes(_ s: Substring) -> [String: String] {
        var out: [String: String] = [:]
        var rest = s
        while let eq = rest.firstIndex(of: "=") {
            let name = rest[..<eq].trimmingCharacters(in: .whitespacesAndNewlines)
            var after = rest[rest.index(after: eq)...].drop { $0 == " " }
            guard let quote = after.first, quote == "\"" || quote == "'" else { break }
            after = after.dropFirst()
            guard let endQuote = after.firstIndex(of: quote) else { break }
            out[name] = unescape(after[..<endQuote])
            rest = after[after.index(after: endQuote)...]
        }
        return out
    }

    /// Text of an element: CDATA sections verbatim, other text with entities unescaped.
    private static func textContent(_ s: Substring) -> String {
        var out = ""
        var rest = s
        while let cdata = rest.range(of: "<![CDATA[") {
            out += unescape(rest[..<cdata.lowerBound])
            let body = rest[cdata.upperBound...]
            guard let end = body.range(of: "]]>") else { out += body; return out.trimmingCharacters(in: .whitespacesAndNewlines) }
            out += body[..<end.lowerBound]
            rest = body[end.upperBound...]
        }
        out += unescape(rest)
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func unescape(_ s: Substring) -> String {
        guard s.contains("&") else { return String(s) }
        return s.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}

/// A NIfTI header extension: code and raw content (esize - 8 bytes).
struct NIfTIExtension {
    var code: Int
    var content: [UInt8]

    /// Walks the extensions between the header and vox_offset; stops quietly at the first
    /// malformed one (esize not a positive multiple of 16 or running past vox_offset), as libnifti does.
    static func parse(_ file: LoadedNIfTI) -> [NIfTIExtension] {
        let start = file.header.headerSize
        let end = min(file.layout.voxOffset, file.bytes.count)
        guard start + 4 <= end, file.bytes[start] != 0 else { return [] }
        let r = EndianReader(bytes: file.bytes, bigEndian: file.header.bigEndian)
        var at = start + 4
        var out: [NIfTIExtension] = []
        while at + 8 <= end {
            let esize = r.i32(at), code = r.i32(at + 4)
            guard esize >= 16, esize % 16 == 0, at + esize <= end else { break }
            out.append(NIfTIExtension(code: code, content: Array(file.bytes[(at + 8)..<(at + esize)])))
            at += esize
        }
        return out
    }
}

/// The JSON sidecar written next to a label map: `{"labels":[{"id":1,"name":"liver","color":[r,g,b]}]}`.
struct LabelSidecar: Codable {
    var labels: [LabelEntry]

    /// `dir/labels.nii.gz` -> `dir/labels.json` (also for `.nii`).
    static func path(for niftiPath: String) -> String {
        for suffix in [".nii.gz", ".nii"] where niftiPath.hasSuffix(suffix) {
            return String(niftiPath.dropLast(suffix.count)) + ".json"
        }
        return niftiPath + ".json"
    }

    static func encode(_ table: LabelTable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try encoder.encode(LabelSidecar(labels: table.entries))) + [0x0A]
    }

    /// The sidecar's table, or nil when there is none or it is not in this format.
    static func read(for niftiPath: String) -> LabelTable? {
        guard let data = FileManager.default.contents(atPath: path(for: niftiPath)),
              let sidecar = try? JSONDecoder().decode(LabelSidecar.self, from: data), !sidecar.labels.isEmpty else { return nil }
        return LabelTable(entries: sidecar.labels)
    }
}
