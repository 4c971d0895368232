import Foundation
import ImagingCore
import Testing
@testable import NIfTIIO

/// A fresh directory under the system temp dir, removed when the value dies.
final class TempDir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "nifti-tests-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

/// Byte writer for hand-made headers in either byte order.
struct ByteWriter {
    var bytes: [UInt8]
    var bigEndian: Bool

    init(count: Int, bigEndian: Bool) {
        bytes = [UInt8](repeating: 0, count: count)
        self.bigEndian = bigEndian
    }
    mutating func put(_ at: Int, _ v: UInt64, _ n: Int) {
        for i in 0..<n {
            let shift = bigEndian ? 8 * (n - 1 - i) : 8 * i
            bytes[at + i] = UInt8(truncatingIfNeeded: v >> UInt64(shift))
        }
    }
    mutating func i16(_ at: Int, _ v: Int) { put(at, UInt64(UInt16(truncatingIfNeeded: v)), 2) }
    mutating func i32(_ at: Int, _ v: Int) { put(at, UInt64(UInt32(truncatingIfNeeded: v)), 4) }
    mutating func i64(_ at: Int, _ v: Int64) { put(at, UInt64(bitPattern: v), 8) }
    mutating func f32(_ at: Int, _ v: Double) { put(at, UInt64(Float(v).bitPattern), 4) }
    mutating func f64(_ at: Int, _ v: Double) { put(at, v.bitPattern, 8) }
    mutating func raw(_ at: Int, _ b: [UInt8]) { for (i, x) in b.enumerated() { bytes[at + i] = x } }
}

/// A NIfTI file built field by field, so tests control every byte a hostile file could hold.
struct TestNIfTI {
    var version = 1
    var bigEndian = false
    var sizeofHdr: Int?
    var dim: [Int64] = [3, 2, 3, 4, 1, 1, 1, 1]
    var datatype = 16
    var pixdim: [Double] = [1, 1, 1, 1, 1, 1, 1, 1]
    var voxOffset: Double?
    var slope = 1.0
    var inter = 0.0
    var qformCode = 0
    var sformCode = 0
    /// quatern_b, c, d, qoffset_x, y, z.
    var quatern: [Double] = [0, 0, 0, 0, 0, 0]
    var srow: [[Double]] = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]
    var intent = 0
    var magic: [UInt8]?
    var extensions: [UInt8] = []

    var headerSize: Int { version == 1 ? 348 : 540 }
    var defaultVoxOffset: Int { headerSize + 4 + extensions.count }

    func header() -> [UInt8] {
        var w = ByteWriter(count: headerSize + 4, bigEndian: bigEndian)
        let vo = voxOffset ?? Double(defaultVoxOffset)
        if version == 1 {
            w.i32(0, sizeofHdr ?? 348)
            for i in 0..<8 { w.i16(40 + 2 * i, Int(truncatingIfNeeded: dim[i])) }
            w.i16(68, intent)
            w.i16(70, datatype)
            w.i16(72, 8 * (bytesPerVoxel(datatype)))
            for i in 0..<8 { w.f32(76 + 4 * i, pixdim[i]) }
            w.f32(108, vo)
            w.f32(112, slope)
            w.f32(116, inter)
            w.i16(252, qformCode)
            w.i16(254, sformCode)
            for i in 0..<6 { w.f32(256 + 4 * i, quatern[i]) }
            for r in 0..<3 { for c in 0..<4 { w.f32(280 + 16 * r + 4 * c, srow[r][c]) } }
            w.raw(344, magic ?? [0x6E, 0x2B, 0x31, 0])
        } else {
            w.i32(0, sizeofHdr ?? 540)
            w.raw(4, magic ?? [0x6E, 0x2B, 0x32, 0, 0x0D, 0x0A, 0x1A, 0x0A])
            w.i16(12, datatype)
            w.i16(14, 8 * bytesPerVoxel(datatype))
            for i in 0..<8 { w.i64(16 + 8 * i, dim[i]) }
            for i in 0..<8 { w.f64(104 + 8 * i, pixdim[i]) }
            w.i64(168, vo.isFinite ? Int64(vo) : -1)
            w.f64(176, slope)
            w.f64(184, inter)
            w.i32(344, qformCode)
            w.i32(348, sformCode)
            for i in 0..<6 { w.f64(352 + 8 * i, quatern[i]) }
            for r in 0..<3 { for c in 0..<4 { w.f64(400 + 32 * r + 8 * c, srow[r][c]) } }
            w.i32(504, intent)
        }
        if !extensions.isEmpty { w.bytes[headerSize] = 1 }
        return w.bytes + extensions
    }

    /// The whole file: header, extensions, then `data` (already encoded).
    func file(data: [UInt8]) -> [UInt8] {
        var out = header()
        if let vo = voxOffset, vo.isFinite, Int(vo) > out.count { out += [UInt8](repeating: 0, count: Int(vo) - out.count) }
        return out + data
    }

    /// Writes the file (gzip-compressed when `path` ends in .gz) and returns the path.
    @discardableResult
    func write(_ path: String, data: [UInt8]) throws -> String {
        var bytes = file(data: data)
        if path.hasSuffix(".gz") { bytes = try gzipCompress(bytes) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}

func bytesPerVoxel(_ dt: Int) -> Int {
    switch dt {
    case 2, 256: 1
    case 4, 512: 2
    case 8, 16, 768: 4
    case 64: 8
    default: 1
    }
}

/// Encodes values as NIfTI datatype `dt` in the given byte order.
func encode(_ values: [Double], dt: Int, bigEndian: Bool = false) -> [UInt8] {
    let n = bytesPerVoxel(dt)
    var w = ByteWriter(count: values.count * n, bigEndian: bigEndian)
    for (i, v) in values.enumerated() {
        switch dt {
        case 2: w.put(i, UInt64(UInt8(v)), 1)
        case 256: w.put(i, UInt64(UInt8(bitPattern: Int8(v))), 1)
        case 4: w.i16(2 * i, Int(v))
        case 512: w.put(2 * i, UInt64(UInt16(v)), 2)
        case 8: w.i32(4 * i, Int(v))
        case 768: w.put(4 * i, UInt64(UInt32(v)), 4)
        case 16: w.f32(4 * i, v)
        case 64: w.f64(8 * i, v)
        default: fatalError("datatype \(dt)")
        }
    }
    return w.bytes
}

/// Asserts that `body` throws an ImagingError with `code`; returns it for further checks.
@discardableResult
func expectRefusal(_ code: ImagingError.Code, sourceLocation: SourceLocation = #_sourceLocation,
                   _ body: () throws -> Void) -> ImagingError? {
    do {
        try body()
        Issue.record("expected \(code), but nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as ImagingError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        #expect(!error.remedy.isEmpty, sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected ImagingError \(code), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// The real-file corpus: $SEGVOL_CORPUS, else ../shared/corpus from the package root.
enum Corpus {
    static let root: String = {
        if let env = ProcessInfo.processInfo.environment["SEGVOL_CORPUS"], !env.isEmpty { return env }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus").path
    }()
    static var available: Bool {
        let ok = FileManager.default.fileExists(atPath: root + "/labels")
        if !ok { print("note: corpus not found at \(root); real-file NIfTI tests skipped") }
        return ok
    }
    static func labels(_ path: String) -> String { root + "/labels/" + path }
}
