import Foundation

/// Version ids: `2026-11-23T0815Z-1a2b3c4d`, the registration time in UTC to the minute and the
/// first 8 hex digits of the weights' SHA-256. They sort by time as plain strings, name the
/// weights, and carry nothing about any patient. The shipped base model is the version `default`.
public enum VersionID {
    /// The version of the shipped default model when it is imported as the registry's base.
    public static let base = "default"

    /// The id for weights with SHA-256 `weightsSHA256` registered at `date`.
    public static func make(date: Date, weightsSHA256: String) -> String {
        timestamp(date) + "-" + String(weightsSHA256.prefix(8))
    }

    /// `yyyy-MM-ddTHHmmZ` in UTC.
    static func timestamp(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        return String(format: "%04d-%02d-%02dT%02d%02dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!)
    }

    /// True for a name that can be a version folder: letters, digits, `-`, `_`, `.`, not
    /// starting with `.` (temporaries) and not `current`.
    public static func isValid(_ name: String) -> Bool {
        guard !name.isEmpty, name.count <= 100, !name.hasPrefix("."), name != "current", name != "history.json" else { return false }
        return name.unicodeScalars.allSatisfy { ($0.isASCII && (CharacterSet.alphanumerics.contains($0))) || "-_.".unicodeScalars.contains($0) }
    }

    /// ISO 8601 time in UTC, to the second.
    public static func iso(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }
}
