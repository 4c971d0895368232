import Dispatch
import ImagingCore

/// Transfer syntaxes segvol decodes (PS3.5 Annex A / PS3.6 Annex A UIDs).
let supportedTransferSyntaxes: [String: String] = [
    "1.2.840.10008.1.2": "Implicit VR Little Endian",
    "1.2.840.10008.1.2.1": "Explicit VR Little Endian",
    "1.2.840.10008.1.2.1.99": "Deflated Explicit VR Little Endian",
    "1.2.840.10008.1.2.2": "Explicit VR Big Endian",
    "1.2.840.10008.1.2.5": "RLE Lossless",
    "1.2.840.10008.1.2.4.50": "JPEG Baseline (Process 1)",
    "1.2.840.10008.1.2.4.51": "JPEG Extended (Process 2 & 4)",
    "1.2.840.10008.1.2.4.57": "JPEG Lossless (Process 14)",
    "1.2.840.10008.1.2.4.70": "JPEG Lossless SV1",
    "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless",
    "1.2.840.10008.1.2.4.81": "JPEG-LS Near-Lossless",
    "1.2.840.10008.1.2.4.90": "JPEG 2000 Lossless",
    "1.2.840.10008.1.2.4.91": "JPEG 2000",
    "1.2.840.10008.1.2.4.201": "HTJ2K Lossless",
    "1.2.840.10008.1.2.4.202": "HTJ2K Lossless RPCL",
    "1.2.840.10008.1.2.4.203": "HTJ2K",
]

/// Turns a sorted series into Float voxels: decode each frame (DCMTK / OpenJPEG via the shim),
/// take BitsStored bits at HighBit, sign-extend when PixelRepresentation = 1, then apply each
/// slice's RescaleSlope/RescaleIntercept (PS3.3 C.7.6.3.1 and C.11.1.1.2).
enum PixelDecoder {
    /// Decodes the series with its files spread over the cores: each file is opened once, its
    /// frames decoded in order into a buffer of its own and placed at their spatial indices in
    /// an uninitialised volume (every slice is written by exactly one file). The values are
    /// `referenceDecode`'s, and so is the error: the one of the first failing frame in file and
    /// frame order (tested on every transfer syntax the writer makes and the corpus series).
    static func decode(_ series: AssembledSeries, maxVoxels: Int) throws(ImagingError) -> ImageVolume {
        let first = try check(series, maxVoxels: maxVoxels)
        let nx = first.columns, ny = first.rows, nz = series.slices.count
        let perSlice = nx * ny, bytes = first.bitsAllocated / 8
        // File and frame order, as the reference decodes; then the runs of one file each.
        let order = fileOrder(series)
        var starts = [0]
        for n in 1...order.count where n == order.count || series.slices[order[n]].path != series.slices[order[starts.last!]].path {
            starts.append(n)
        }
        let runs = (1..<starts.count).map { starts[$0 - 1]..<starts[$0] }
        let failures = FailureSlots(count: runs.count)
        let data = [Float](unsafeUninitializedCapacity: perSlice * nz) { out, initialized in
            let volume = SendableBuffer(base: out.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: runs.count) { r in
                var raw = [UInt8](repeating: 0, count: perSlice * bytes)
                do throws(ImagingError) {
                    let file = try DICOMFile(path: series.slices[order[runs[r].lowerBound]].path)
                    for n in runs[r] {
                        let k = order[n], s = series.slices[k]
                        try decodeFrame(s.frame, of: file, into: &raw)
                        raw.withUnsafeBytes { buffer in
                            store(buffer, slice: s, bytes: bytes, count: perSlice, into: volume.base + k * perSlice)
                        }
                    }
                } catch {
                    failures.set(r, error)
                }
            }
            initialized = perSlice * nz
        }
        if let failure = failures.first { throw failure }
        return ImageVolume(grid: Grid(shape: [nx, ny, nz], affine: series.affine), data: data)
    }

    /// The checks before any decoding (size, transfer syntaxes, pixel layout); returns the first slice.
    private static func check(_ series: AssembledSeries, maxVoxels: Int) throws(ImagingError) -> DICOMSlice {
        let first = series.slices[0]
        let nx = first.columns, ny = first.rows, nz = series.slices.count
        guard (nx * ny).multipliedReportingOverflow(by: nz).partialValue <= maxVoxels else {
            throw ImagingError(.tooLarge, input: first.path, reason: "\(nx)×\(ny)×\(nz) voxels exceed the limit of \(maxVoxels)",
                               remedy: "Raise DICOMReadOptions.maxVoxels if this size is genuine.")
        }
        for s in series.slices where supportedTransferSyntaxes[s.transferSyntax] == nil {
            throw ImagingError(.unsupportedTransferSyntax, input: s.path,
                               reason: "transfer syntax \(s.transferSyntax) is not supported",
                               remedy: "Convert the series to Explicit VR Little Endian (e.g. gdcmconv --raw) first.")
        }
        guard [8, 16, 32].contains(first.bitsAllocated), first.bitsStored >= 1, first.bitsStored <= first.bitsAllocated,
              first.highBit >= first.bitsStored - 1, first.highBit < first.bitsAllocated else {
            throw ImagingError(.unsupportedFormat, input: first.path,
                               reason: "BitsAllocated \(first.bitsAllocated), BitsStored \(first.bitsStored), HighBit \(first.highBit) is not a supported pixel layout",
                               remedy: "Export the series with 8, 16 or 32 bits allocated.")
        }
        return first
    }

    /// The slice indices in file and frame order (sequential access is what codecs handle best).
    private static func fileOrder(_ series: AssembledSeries) -> [Int] {
        series.slices.indices.sorted {
            (series.slices[$0].path, series.slices[$0].frame) < (series.slices[$1].path, series.slices[$1].frame)
        }
    }

    /// Decodes frame `frame` of `file` into `raw` (its stored samples).
    private static func decodeFrame(_ frame: Int, of file: DICOMFile, into raw: inout [UInt8]) throws(ImagingError) {
        let failure = raw.withUnsafeMutableBytes { (buffer: UnsafeMutableRawBufferPointer) -> ImagingError? in
            do throws(ImagingError) { try file.decodeFrame(frame, into: buffer); return nil } catch { return error }
        }
        if let failure { throw failure }
    }

    /// One decoded frame's stored values to intensities (both decoders; `out` may be uninitialised
    /// or hold Floats).
    @inline(__always)
    private static func store(_ buffer: UnsafeRawBufferPointer, slice s: DICOMSlice, bytes: Int, count: Int,
                              into out: UnsafeMutablePointer<Float>) {
        let shift = UInt32(s.highBit + 1 - s.bitsStored), bits = UInt32(s.bitsStored)
        let mask: UInt32 = bits == 32 ? .max : (1 << bits) - 1
        let signed = s.pixelRepresentation == 1
        let slope = s.rescaleSlope, intercept = s.rescaleIntercept
        for p in 0..<count {
            let word: UInt32
            switch bytes {
            case 1: word = UInt32(buffer[p])
            case 2: word = UInt32(buffer.load(fromByteOffset: 2 * p, as: UInt16.self))
            default: word = buffer.load(fromByteOffset: 4 * p, as: UInt32.self)
            }
            let stored = storedValue(word, shift: shift, mask: mask, bits: bits, signed: signed)
            (out + p).initialize(to: Float(Double(stored) * slope + intercept))
        }
    }

    /// The reference twin of `decode`: one file after another on the calling thread, into a
    /// zero-filled volume (the per-frame conversion, `store`, is shared).
    static func referenceDecode(_ series: AssembledSeries, maxVoxels: Int) throws(ImagingError) -> ImageVolume {
        let first = try check(series, maxVoxels: maxVoxels)
        let nx = first.columns, ny = first.rows, nz = series.slices.count
        let perSlice = nx * ny, bytes = first.bitsAllocated / 8
        var data = [Float](repeating: 0, count: perSlice * nz)
        var raw = [UInt8](repeating: 0, count: perSlice * bytes)
        var open: DICOMFile?
        // Decode in file and frame order and place each frame at its spatial index k.
        let order = fileOrder(series)
        for k in order {
            let s = series.slices[k]
            if open?.path != s.path { open = try DICOMFile(path: s.path) }
            let file = open!
            try decodeFrame(s.frame, of: file, into: &raw)
            raw.withUnsafeBytes { buffer in
                data.withUnsafeMutableBufferPointer { out in
                    store(buffer, slice: s, bytes: bytes, count: perSlice, into: out.baseAddress! + k * perSlice)
                }
            }
        }
        return ImageVolume(grid: Grid(shape: [nx, ny, nz], affine: series.affine), data: data)
    }

    /// The stored value of one sample: `bits` bits ending at HighBit, sign-extended when signed.
    @inline(__always)
    static func storedValue(_ word: UInt32, shift: UInt32, mask: UInt32, bits: UInt32, signed: Bool) -> Int64 {
        let v = (word >> shift) & mask
        if signed, v & (UInt32(1) << (bits - 1)) != 0 {
            return Int64(v) - (Int64(1) << Int64(bits))
        }
        return Int64(v)
    }
}

/// One error slot per parallel task, each written by its own task only; `first` is the error of
/// the lowest task index (file order), read after the tasks have finished.
private final class FailureSlots: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<ImagingError?>
    private let count: Int

    init(count: Int) {
        self.count = count
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil, count: count)
    }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }

    func set(_ i: Int, _ error: ImagingError) { slots[i] = error }

    var first: ImagingError? { (0..<count).lazy.compactMap { self.slots[$0] }.first }
}
