internal import CDCMTK
import ImagingCore

/// One step of an attribute path: a tag, and for a sequence the item to descend into.
struct TagPath: Sendable {
    var tags: [UInt32]
    var items: [UInt32]

    /// A top-level attribute.
    init(_ tag: UInt32) { tags = [tag]; items = [] }

    /// `leaf` inside item `item` of `sequence` inside item `outerItem` of `outer`
    /// (e.g. PerFrameFunctionalGroups[f] > PlanePositionSequence[0] > ImagePositionPatient).
    init(_ outer: UInt32, _ outerItem: Int, _ sequence: UInt32, _ item: Int, _ leaf: UInt32) {
        tags = [outer, sequence, leaf]
        items = [UInt32(outerItem), UInt32(item)]
    }
}

/// An opened DICOM file: owns the shim's handle (DCMTK `DcmFileFormat`), closed in `deinit`.
/// All C calls of DICOMIO go through this class; it maps shim status codes to `ImagingError`.
final class DICOMFile {
    private let handle: OpaquePointer
    let path: String

    /// Parses `path`; throws `unreadable` with DCMTK's reason when it is not parseable DICOM.
    init(path: String) throws(ImagingError) {
        var out: OpaquePointer?
        var message = [CChar](repeating: 0, count: 256)
        let status = segvol_dcm_open(path, &out, &message, message.count)
        guard status == Int32(SEGVOL_DCM_OK), let out else {
            let why = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let truncated = why.lowercased().contains("premature end") || why.lowercased().contains("end of stream")
            throw ImagingError(truncated ? .truncated : .unreadable, input: path,
                               reason: "DCMTK cannot parse the file (\(why))",
                               remedy: "Re-export or re-transfer the file; a partial copy is the usual cause.")
        }
        handle = out
        self.path = path
    }

    deinit { segvol_dcm_close(handle) }

    /// The transfer syntax UID the dataset was encoded in.
    var transferSyntax: String {
        var buf = [CChar](repeating: 0, count: 128)
        segvol_dcm_transfer_syntax(handle, &buf, buf.count)
        return Self.string(buf)
    }

    /// The attribute's value as a string (multiple values joined by `\`), nil when absent/empty.
    func string(_ path: TagPath) -> String? {
        var buf = [CChar](repeating: 0, count: 1024)
        var length = segvol_dcm_string(handle, path.tags, path.items, path.tags.count, &buf, buf.count)
        if length >= buf.count {
            buf = [CChar](repeating: 0, count: length + 1)
            length = segvol_dcm_string(handle, path.tags, path.items, path.tags.count, &buf, buf.count)
        }
        guard length >= 0 else { return nil }
        let s = Self.string(buf).trimmingSpaces
        return s.isEmpty ? nil : s
    }

    func string(_ tag: UInt32) -> String? { string(TagPath(tag)) }

    /// The attribute's values as numbers (DS/IS/US text split at `\`); nil if absent or not numeric.
    func doubles(_ path: TagPath) -> [Double]? {
        guard let s = string(path) else { return nil }
        let values = s.split(separator: "\\", omittingEmptySubsequences: false).map { Double($0.trimmingSpaces) }
        guard values.allSatisfy({ $0 != nil && $0!.isFinite }) else { return nil }
        return values.map { $0! }
    }

    func doubles(_ tag: UInt32) -> [Double]? { doubles(TagPath(tag)) }
    func double(_ tag: UInt32) -> Double? { doubles(tag)?.first }
    func int(_ tag: UInt32) -> Int? { double(tag).flatMap { $0.rounded() == $0 && abs($0) < 1e15 ? Int($0) : nil } }

    /// Items in a top-level sequence (nil when absent).
    func itemCount(_ tag: UInt32) -> Int? {
        let n = segvol_dcm_item_count(handle, [tag], [], 1)
        return n < 0 ? nil : n
    }

    /// True when the top-level dataset holds `tag`.
    func has(_ tag: UInt32) -> Bool { segvol_dcm_has(handle, tag) == 1 }

    /// Decodes one frame's stored values into `buffer` (Rows*Columns samples, host order).
    func decodeFrame(_ frame: Int, into buffer: UnsafeMutableRawBufferPointer) throws(ImagingError) {
        var message = [CChar](repeating: 0, count: 256)
        let status = segvol_dcm_decode_frame(handle, UInt32(frame), buffer.baseAddress, buffer.count,
                                             &message, message.count)
        guard status != Int32(SEGVOL_DCM_OK) else { return }
        let why = Self.string(message)
        let code: ImagingError.Code = status == Int32(SEGVOL_DCM_ERR_UNSUPPORTED) ? .unsupportedTransferSyntax : .pixelDecodeFailed
        throw ImagingError(code, input: path, reason: "frame \(frame) cannot be decoded (\(why)) [transfer syntax \(transferSyntax)]",
                           remedy: "Check that the file is complete; or convert it to uncompressed DICOM (e.g. dcmdjpeg) first.")
    }

    private static func string(_ buf: [CChar]) -> String {
        String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension StringProtocol {
    /// The string without leading/trailing spaces and NULs (DICOM pads values with them).
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\0" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\0" { s.removeLast() }
        return String(s)
    }
}
