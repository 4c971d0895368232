import Foundation
import ImagingCore

/// Finds candidate files and recognises DICOM by content, never by name.
enum FileDiscovery {
    enum Probe: Equatable {
        case dicom
        case skip(ImagingError.Code, String)
    }

    /// All regular files under `paths` (folders recursively), sorted, at most `maxFiles`.
    static func files(in paths: [String], maxFiles: Int) throws(ImagingError) -> [String] {
        let fm = FileManager.default
        var out: [String] = []
        for path in paths {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDir) else {
                throw ImagingError(.notFound, input: path, reason: "no such file or folder",
                                   remedy: "Check the path.")
            }
            if !isDir.boolValue {
                out.append(path)
            } else if let walker = fm.enumerator(atPath: path) {
                while let rel = walker.nextObject() as? String {
                    let full = (path as NSString).appendingPathComponent(rel)
                    var sub: ObjCBool = false
                    if fm.fileExists(atPath: full, isDirectory: &sub), !sub.boolValue { out.append(full) }
                    if out.count > maxFiles { break }
                }
            }
            if out.count > maxFiles {
                throw ImagingError(.tooManyFiles, input: path, reason: "more than \(maxFiles) files",
                                   remedy: "Pass one series folder at a time, or raise DICOMReadOptions.maxFiles.")
            }
        }
        return out.sorted()
    }

    /// Recognises DICOM by content: "DICM" after the 128-byte preamble, or a raw dataset that
    /// starts with a plausible group 0002 or 0008 element (explicit VR letters, or an implicit
    /// length that fits in the file). Files over `maxBytes` are skipped as `too_large`.
    static func probe(_ path: String, maxBytes: Int) -> Probe {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let size = (attributes[.size] as? NSNumber)?.intValue else {
            return .skip(.unreadable, "cannot stat the file")
        }
        if size > maxBytes { return .skip(.tooLarge, "file of \(size) bytes exceeds the limit of \(maxBytes)") }
        guard let handle = FileHandle(forReadingAtPath: path) else { return .skip(.unreadable, "cannot open the file") }
        defer { try? handle.close() }
        let head = [UInt8]((try? handle.read(upToCount: 132)) ?? Data())
        if head.count == 132, head[128...131].elementsEqual("DICM".utf8) { return .dicom }
        if head.count >= 8 {
            let group = UInt16(head[0]) | UInt16(head[1]) << 8
            if group == 0x0002 || group == 0x0008 {
                let explicitVR = head[4] >= 65 && head[4] <= 90 && head[5] >= 65 && head[5] <= 90
                let length = UInt32(head[4]) | UInt32(head[5]) << 8 | UInt32(head[6]) << 16 | UInt32(head[7]) << 24
                if explicitVR || Int(length) <= size - 8 { return .dicom }
            }
        }
        return .skip(.notDICOM, "no DICM marker and no plausible leading DICOM element")
    }
}
