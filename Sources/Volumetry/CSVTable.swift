import CSV
import Foundation
import ImagingCore

/// One CSV cell: text (neutralised against spreadsheet formula injection) or a number
/// (written as given).
public enum CSVCell: Equatable, Sendable {
    case text(String)
    case number(String)

    /// A number with a fixed count of decimals (`.` as separator, no grouping).
    public static func decimal(_ value: Double, places: Int) -> CSVCell { .number(String(format: "%.\(places)f", value)) }
    public static func integer(_ value: Int) -> CSVCell { .number(String(value)) }
    public static func bool(_ value: Bool) -> CSVCell { .text(value ? "true" : "false") }

    /// The cell's text as written (before RFC 4180 quoting).
    public var field: String {
        switch self {
        case .text(let s): CSVTable.neutralise(s)
        case .number(let s): s
        }
    }
}

/// RFC 4180 CSV through yaslab/CSV.swift's `CSVWriter`: CRLF line ends (also after the last
/// record), fields holding `"`, `,`, CR or LF are quoted with `""` for a quote (the library
/// does this). The library does not defend against formula injection, so text cells are
/// neutralised here first (`neutralise`), per OWASP's CSV-injection advice.
public enum CSVTable {
    /// A text cell that a spreadsheet would run as a formula (first character `=`, `+`, `-`,
    /// `@`, TAB or CR) gets a leading `'`, which spreadsheets show as text and do not evaluate.
    public static func neutralise(_ s: String) -> String {
        guard let first = s.unicodeScalars.first, ["=", "+", "-", "@", "\t", "\r"].contains(first) else { return s }
        return "'" + s
    }

    /// The CSV bytes of a header and rows (UTF-8, no byte-order mark).
    public static func encode(header: [String], rows: [[CSVCell]]) throws(ImagingError) -> [UInt8] {
        let stream = OutputStream(toMemory: ())
        do {
            let writer = try CSVWriter(stream: stream, newline: .crlf)
            try writer.write(row: header.map(neutralise))
            for row in rows {
                precondition(row.count == header.count, "CSV row has \(row.count) cells, header \(header.count)")
                try writer.write(row: row.map(\.field))
            }
            writer.stream.close()
        } catch {
            throw ImagingError(.writeFailed, input: "CSV", reason: "the CSV could not be encoded (\(error))", remedy: "report this as a bug")
        }
        guard let data = stream.property(forKey: .dataWrittenToMemoryStreamKey) as? Data else {
            throw ImagingError(.writeFailed, input: "CSV", reason: "the CSV writer produced no data", remedy: "report this as a bug")
        }
        // CSVWriter separates records but does not end the last one.
        return Array(data) + Array("\r\n".utf8)
    }

    /// The records of CSV text (header included) as written by `encode`, fields unquoted
    /// (neutralised cells keep their leading `'`). Used to find the keys already in a report.
    public static func decode(_ bytes: [UInt8]) throws(ImagingError) -> [[String]] {
        do {
            let reader = try CSVReader(string: String(decoding: bytes, as: UTF8.self), hasHeaderRow: false)
            var rows: [[String]] = []
            while let row = reader.next() { rows.append(row) }
            if let error = reader.error { throw error }
            return rows
        } catch {
            throw ImagingError(.unreadable, input: "CSV", reason: "the CSV could not be read (\(error))", remedy: "move the damaged report aside; segvol starts a new one")
        }
    }
}
