import Dispatch
import ImagingCore

/// Decodes one volume of stored voxels, calling `body(index, value)` with each raw value as a
/// Double (exact for every supported datatype). One switch on the datatype, then a tight loop.
///
/// raw: (count * datatype.size) bytes in file byte order.
/// `@_optimize(speed)` keeps debug builds (and their tests) usable on 20-million-voxel maps.
@_optimize(speed) @inline(__always)
func forEachVoxel(_ raw: UnsafeRawBufferPointer, _ type: NIfTIDatatype, bigEndian: Bool, count: Int,
                  _ body: (Int, Double) throws -> Void) rethrows {
    precondition(raw.count >= count * type.size, "voxel buffer too small")
    let swap = bigEndian != (1.bigEndian == 1)
    switch type {
    case .uint8:
        for i in 0..<count { try body(i, Double(raw[i])) }
    case .int8:
        for i in 0..<count { try body(i, Double(Int8(bitPattern: raw[i]))) }
    case .int16:
        for i in 0..<count {
            let v = raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
            try body(i, Double(Int16(bitPattern: swap ? v.byteSwapped : v)))
        }
    case .uint16:
        for i in 0..<count {
            let v = raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
            try body(i, Double(swap ? v.byteSwapped : v))
        }
    case .int32:
        for i in 0..<count {
            let v = raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)
            try body(i, Double(Int32(bitPattern: swap ? v.byteSwapped : v)))
        }
    case .uint32:
        for i in 0..<count {
            let v = raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)
            try body(i, Double(swap ? v.byteSwapped : v))
        }
    case .float32:
        for i in 0..<count {
            let v = raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)
            try body(i, Double(Float(bitPattern: swap ? v.byteSwapped : v)))
        }
    case .float64:
        for i in 0..<count {
            let v = raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)
            try body(i, Double(bitPattern: swap ? v.byteSwapped : v))
        }
    }
}

/// Decodes volume `volume` of a loaded file as intensities: `slope * raw + intercept` in Double,
/// rounded once to Float (float32 data without scaling is returned bit for bit).
///
/// Chunks of the volume in parallel into an uninitialised buffer (each value on its own, so the
/// values are `referenceDecodeImage`'s; tested): the output's pages are first touched by the
/// threads that write them, instead of a zero fill and one sequential pass.
@_optimize(speed)
func decodeImage(_ file: LoadedNIfTI, volume: Int) -> [Float] {
    let layout = file.layout
    let n = layout.voxelsPerVolume
    let size = layout.datatype.size
    let start = layout.voxOffset + volume * n * size
    let chunks = max(1, min(64, n >> 18))
    let bigEndian = file.header.bigEndian, scaling = layout.scaling, type = layout.datatype
    return [Float](unsafeUninitializedCapacity: n) { dst, initialized in
        file.bytes.withUnsafeBytes { all in
            guard n > 0, let src = all.baseAddress, let out = dst.baseAddress else { return }
            let input = SendableRaw(base: UnsafeMutableRawPointer(mutating: src + start))
            let output = SendableBuffer(base: out)
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let lo = n * c / chunks, hi = n * (c + 1) / chunks
                let raw = UnsafeRawBufferPointer(start: input.base + lo * size, count: (hi - lo) * size)
                let d = output.base + lo
                if let (slope, inter) = scaling {
                    forEachVoxel(raw, type, bigEndian: bigEndian, count: hi - lo) { i, v in (d + i).initialize(to: Float(v * slope + inter)) }
                } else {
                    forEachVoxel(raw, type, bigEndian: bigEndian, count: hi - lo) { i, v in (d + i).initialize(to: Float(v)) }
                }
            }
        }
        initialized = n
    }
}

/// The reference twin of `decodeImage`: one sequential pass into a zero-filled array.
@_optimize(speed)
func referenceDecodeImage(_ file: LoadedNIfTI, volume: Int) -> [Float] {
    let layout = file.layout
    let n = layout.voxelsPerVolume
    let start = layout.voxOffset + volume * n * layout.datatype.size
    var out = [Float](repeating: 0, count: n)
    file.bytes.withUnsafeBytes { all in
        let raw = UnsafeRawBufferPointer(rebasing: all[start..<(start + n * layout.datatype.size)])
        out.withUnsafeMutableBufferPointer { dst in
            if let (slope, inter) = layout.scaling {
                forEachVoxel(raw, layout.datatype, bigEndian: file.header.bigEndian, count: n) { i, v in dst[i] = Float(v * slope + inter) }
            } else {
                forEachVoxel(raw, layout.datatype, bigEndian: file.header.bigEndian, count: n) { i, v in dst[i] = Float(v) }
            }
        }
    }
    return out
}

/// Decodes volume `volume` as label ids; every scaled value must be an integer in Int32 range.
@_optimize(speed)
func decodeLabels(_ file: LoadedNIfTI, volume: Int, input: String) throws -> [Int32] {
    let layout = file.layout
    let n = layout.voxelsPerVolume
    let start = layout.voxOffset + volume * n * layout.datatype.size
    let (slope, inter) = layout.scaling ?? (1, 0)
    var out = [Int32](repeating: 0, count: n)
    try file.bytes.withUnsafeBytes { all in
        let raw = UnsafeRawBufferPointer(rebasing: all[start..<(start + n * layout.datatype.size)])
        try out.withUnsafeMutableBufferPointer { dst in
            try forEachVoxel(raw, layout.datatype, bigEndian: file.header.bigEndian, count: n) { i, v in
                let x = v * slope + inter
                guard x.isFinite, x.rounded() == x, x >= -2_147_483_648, x <= 2_147_483_647 else {
                    throw ImagingError(.niftiNonIntegralLabel, input: input,
                                       reason: "voxel \(i) holds \(x), which is not an integer label id (label maps must hold whole numbers in Int32 range).",
                                       remedy: "Pass a label map, not an image or a probability map; round or threshold it first.")
                }
                dst[i] = Int32(x)
            }
        }
    }
    return out
}
