import Dispatch
import Foundation
import ImagingCore

/// Writes NIfTI-1 files (`.nii.gz`, or `.nii` when the name ends so), little-endian, durably
/// (see `DurableFile`).
///
/// Geometry: the sform holds the affine as given (float32), with `sform_code = xformCode`
/// (1 NIFTI_XFORM_SCANNER_ANAT by default, or 2 ALIGNED_ANAT); the qform, with the same code,
/// comes from libnifti's `nifti_dmat44_to_quatern`. For a non-orthogonal (sheared) affine the
/// qform is the nearest rigid transform with the column norms as pixdim, so it only
/// approximates the sform; readers that prefer the sform (nibabel, ITK when codes agree,
/// segvol) get the exact affine. Geometry survives a round trip to float32 precision
/// (relative error below 1e-7).
public enum NIfTIWriter {
    /// Writes an image losslessly in its narrowest type, as float32, or as int16 (see
    /// `NIfTIWriteOptions.ImageDatatype`).
    public static func writeImage(_ image: ImageVolume, to path: String, options: NIfTIWriteOptions = .init(),
                                  description: String = "segvol") throws {
        var header = try baseHeader(grid: image.grid, path: path, options: options, description: description)
        let payload: [UInt8]
        switch options.imageDatatype {
        case .exact:
            let (code, bitpix, bytes) = narrowestExactEncoding(image.data)
            header.setDatatype(code, bitpix: bitpix)
            payload = bytes
        case .float32:
            header.setDatatype(16, bitpix: 32)
            payload = image.data.withUnsafeBytes { raw in littleEndianBytes(raw, width: 4) }
        case .int16:
            let (stored, slope, inter) = quantizeToInt16(image.data)
            header.setDatatype(4, bitpix: 16)
            header.f32(112, slope)
            header.f32(116, inter)
            payload = stored.withUnsafeBytes { raw in littleEndianBytes(raw, width: 2) }
        }
        try finish(header: header, extensions: [], payload: payload, path: path, options: options)
    }

    /// Writes a label map with intent NIFTI_INTENT_LABEL (1002) as uint8 or int16, the label
    /// table as a TotalSegmentator-style XML extension (`LabelTableXML`), and, when
    /// `writeLabelSidecar` is set, `<name>.json` = `{"labels":[{"id":1,"name":"liver","color":[r,g,b]}]}`.
    public static func writeLabels(_ labels: LabelVolume, table: LabelTable?, to path: String,
                                   options: NIfTIWriteOptions = .init(), description: String = "segvol labels") throws {
        var header = try baseHeader(grid: labels.grid, path: path, options: options, description: description)
        header.i16(68, 1002)
        let (low, high, lowBytes) = lowBytesAndRange(labels.data)
        let useUInt8: Bool
        switch options.labelDatatype {
        case .automatic: useUInt8 = low >= 0 && high <= 255
        case .uint8: useUInt8 = true
        case .int16: useUInt8 = false
        }
        let range: ClosedRange<Int32> = useUInt8 ? 0...255 : -32768...32767
        guard range.contains(low), range.contains(high) else {
            throw ImagingError(.niftiLabelOutOfRange, input: path,
                               reason: "label ids span \(low)...\(high), outside the \(useUInt8 ? "uint8" : "int16") range \(range).",
                               remedy: "Renumber the labels or choose a wider label datatype.")
        }
        let payload: [UInt8]
        if useUInt8 {
            header.setDatatype(2, bitpix: 8)
            payload = lowBytes
        } else {
            header.setDatatype(4, bitpix: 16)
            payload = labels.data.map { Int16(truncatingIfNeeded: $0) }.withUnsafeBytes { littleEndianBytes($0, width: 2) }
        }
        var extensions: [UInt8] = []
        if let table {
            extensions = extensionBytes(code: 0, content: Array(LabelTableXML.encode(table).utf8))
        }
        try finish(header: header, extensions: extensions, payload: payload, path: path, options: options)
        if let table, options.writeLabelSidecar {
            let json: [UInt8]
            do { json = try LabelSidecar.encode(table) } catch {
                throw ImagingError(.writeFailed, input: path, reason: "the label table could not be encoded as JSON.", remedy: "Report this bug.")
            }
            try DurableFile.write(json, to: LabelSidecar.path(for: path))
        }
    }

    // MARK: Pieces

    /// The smallest and largest label (0, 0 when empty) and every label's low byte
    /// (`UInt8(truncatingIfNeeded:)`, the uint8 payload), in one pass of parallel chunks.
    static func lowBytesAndRange(_ data: [Int32]) -> (low: Int32, high: Int32, bytes: [UInt8]) {
        let count = data.count
        guard count > 0 else { return (0, 0, []) }
        let chunks = max(1, min(64, count >> 18))
        var parts = [(Int32, Int32)](repeating: (.max, .min), count: chunks)
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
            data.withUnsafeBufferPointer { src in
                parts.withUnsafeMutableBufferPointer { ranges in
                    let s = SendableBuffer(base: UnsafeMutablePointer(mutating: src.baseAddress!))
                    let d = SendableBuffer(base: out.baseAddress!), r = SendableBuffer(base: ranges.baseAddress!)
                    DispatchQueue.concurrentPerform(iterations: chunks) { c in
                        var lo = Int32.max, hi = Int32.min
                        for i in (count * c / chunks)..<(count * (c + 1) / chunks) {
                            let v = s.base[i]
                            lo = Swift.min(lo, v)
                            hi = Swift.max(hi, v)
                            d.base[i] = UInt8(truncatingIfNeeded: v)
                        }
                        r.base[c] = (lo, hi)
                    }
                }
            }
            initialized = count
        }
        return (parts.map(\.0).min()!, parts.map(\.1).max()!, bytes)
    }

    private static func baseHeader(grid: Grid, path: String, options: NIfTIWriteOptions, description: String) throws -> HeaderBuilder {
        let affine = grid.affine
        guard affine.isValid else {
            throw ImagingError(.badGeometry, input: path, reason: "the affine to write is singular or not finite.",
                               remedy: "Fix the geometry before writing.")
        }
        guard grid.shape.allSatisfy({ $0 <= Int(Int16.max) }) else {
            throw ImagingError(.tooLarge, input: path, reason: "shape \(grid.shape) exceeds NIfTI-1's 32767 voxels per axis.",
                               remedy: "Crop the volume.")
        }
        var h = HeaderBuilder()
        h.i32(0, 348)
        for (i, d) in ([3] + grid.shape + [1, 1, 1, 1]).enumerated() { h.i16(40 + 2 * i, Int16(d)) }
        let q = Quatern(affine: affine)
        let pixdim = [q.qfac, q.pixdim.x, q.pixdim.y, q.pixdim.z, 1, 1, 1, 1]
        for (i, p) in pixdim.enumerated() { h.f32(76 + 4 * i, p) }
        h.f32(112, 1)
        h.f32(116, 0)
        h.bytes[123] = 2  // xyzt_units: NIFTI_UNITS_MM
        h.string(148, description, max: 79)
        h.i16(252, options.xformCode)
        h.i16(254, options.xformCode)
        for (i, v) in [q.b, q.c, q.d, q.x, q.y, q.z].enumerated() { h.f32(256 + 4 * i, v) }
        for r in 0..<3 { for c in 0..<4 { h.f32(280 + 16 * r + 4 * c, affine[r, c]) } }
        h.string(344, "n+1", max: 3)
        return h
    }

    private static func finish(header: HeaderBuilder, extensions: [UInt8], payload: [UInt8], path: String, options: NIfTIWriteOptions) throws {
        var h = header
        h.f32(108, Double(352 + extensions.count))
        var file = h.bytes
        file += extensions.isEmpty ? [0, 0, 0, 0] : [1, 0, 0, 0]
        file += extensions
        file += payload
        if path.hasSuffix(".gz") {
            do { file = try gzipCompress(file, level: options.compressionLevel) } catch {
                throw ImagingError(.writeFailed, input: path, reason: error.reason, remedy: error.remedy)
            }
        }
        try DurableFile.write(file, to: path)
    }

    /// One extension: esize (multiple of 16, including its 8-byte head), ecode, content, NUL padding.
    static func extensionBytes(code: Int32, content: [UInt8]) -> [UInt8] {
        let size = (content.count + 8 + 15) / 16 * 16
        var out: [UInt8] = []
        withUnsafeBytes(of: Int32(size).littleEndian) { out += $0 }
        withUnsafeBytes(of: code.littleEndian) { out += $0 }
        out += content
        out += [UInt8](repeating: 0, count: size - 8 - content.count)
        return out
    }

    /// Int16 storage: exact when every value is an integer in Int16 range; otherwise the finite
    /// range maps linearly onto -32767...32767 (NaN stores as the intercept).
    static func quantizeToInt16(_ data: [Float]) -> (stored: [Int16], slope: Double, inter: Double) {
        if data.allSatisfy({ $0 == $0.rounded() && $0 >= -32768 && $0 <= 32767 }) {
            return (data.map { Int16($0) }, 1, 0)
        }
        let finite = data.lazy.filter(\.isFinite)
        let low = Double(finite.min() ?? 0), high = Double(finite.max() ?? 0)
        let slope = high > low ? (high - low) / 65534 : 1
        let inter = high > low ? low + 32767 * slope : low
        let stored = data.map { v -> Int16 in
            guard v.isFinite else { return 0 }
            return Int16(max(-32767, min(32767, ((Double(v) - inter) / slope).rounded())))
        }
        return (stored, Double(Float(slope)), Double(Float(inter)))
    }

    /// The narrowest NIfTI integer type that holds every value exactly, as little-endian bytes;
    /// float32 when a value is not an integer (or NaN/inf) or exceeds Int32.
    static func narrowestExactEncoding(_ data: [Float]) -> (code: Int16, bitpix: Int16, bytes: [UInt8]) {
        var integral = true
        var low = Float.infinity, high = -Float.infinity
        for v in data {
            if v != v.rounded() { integral = false; break }  // also catches NaN and ±inf
            low = min(low, v)
            high = max(high, v)
        }
        func encode<T: FixedWidthInteger>(_: T.Type, code: Int16) -> (Int16, Int16, [UInt8]) {
            let stored = data.map { T(Int32($0)) }
            return (code, Int16(T.bitWidth), stored.withUnsafeBytes { littleEndianBytes($0, width: T.bitWidth / 8) })
        }
        guard integral, !data.isEmpty, low >= -2_147_483_648, high <= 2_147_483_520 else {
            return (16, 32, data.withUnsafeBytes { littleEndianBytes($0, width: 4) })
        }
        if low >= 0 && high <= 255 { return encode(UInt8.self, code: 2) }
        if low >= -32768 && high <= 32767 { return encode(Int16.self, code: 4) }
        if low >= 0 && high <= 65535 { return encode(UInt16.self, code: 512) }
        return encode(Int32.self, code: 8)
    }

    private static func littleEndianBytes(_ raw: UnsafeRawBufferPointer, width: Int) -> [UInt8] {
        // Linux hosts are little-endian; swap per element otherwise.
        if 1.littleEndian == 1 { return Array(raw) }
        var out = Array(raw)
        for start in stride(from: 0, to: out.count, by: width) { out[start..<(start + width)].reverse() }
        return out
    }
}

/// A little-endian NIfTI-1 header under construction.
struct HeaderBuilder {
    var bytes = [UInt8](repeating: 0, count: 348)

    mutating func i16(_ at: Int, _ v: Int16) { put(at, UInt64(UInt16(bitPattern: v)), 2) }
    mutating func i32(_ at: Int, _ v: Int32) { put(at, UInt64(UInt32(bitPattern: v)), 4) }
    mutating func f32(_ at: Int, _ v: Double) { put(at, UInt64(Float(v).bitPattern), 4) }
    mutating func setDatatype(_ code: Int16, bitpix: Int16) { i16(70, code); i16(72, bitpix) }
    mutating func string(_ at: Int, _ s: String, max: Int) {
        for (i, b) in s.utf8.prefix(max).enumerated() { bytes[at + i] = b }
    }
    private mutating func put(_ at: Int, _ v: UInt64, _ n: Int) {
        for i in 0..<n { bytes[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
    }
}
