internal import CNIfTI
import Dispatch
import ImagingCore

/// Streaming gzip inflation with a hard cap on the decompressed size, owning its `z_stream`.
///
/// Reads the compressed file in 64 KiB chunks; `fill(_:to:)` produces decompressed bytes into a
/// caller's array, `drain()` inflates the rest only to validate the CRC and count bytes. Any
/// point where the total passes `cap` throws `nifti_gzip_too_large` (inflation stops at cap + 1).
/// Multi-member streams are read like gzip(1); zero padding after the last member is ignored.
final class GzipInflater {
    private var stream = z_stream()
    private let file: ReadableFile
    private let input: String
    private let cap: Int
    private let inBuffer: UnsafeMutableRawPointer
    private let inCapacity = 1 << 16
    private var inputEOF = false
    private var inMember = true
    private var finished = false
    /// Decompressed bytes produced so far.
    private(set) var produced = 0

    init(file: ReadableFile, input: String, cap: Int) throws {
        self.file = file
        self.input = input
        self.cap = cap
        inBuffer = UnsafeMutableRawPointer.allocate(byteCount: inCapacity, alignment: 16)
        guard cnifti_inflate_init_gzip(&stream) == Z_OK else {
            inBuffer.deallocate()
            throw ImagingError(.unreadable, input: input, reason: "zlib could not start (out of memory).", remedy: "Retry later.")
        }
    }

    deinit {
        inflateEnd(&stream)
        inBuffer.deallocate()
    }

    private func corrupt(_ why: String) -> ImagingError {
        ImagingError.badHeader(.niftiCorruptGzip, input, "the gzip stream is unusable: \(why).")
    }

    /// Appends decompressed bytes to `out` until it holds `target` bytes or the stream ends.
    /// The array grows geometrically (from 1 MiB) as bytes actually arrive, so a tiny hostile
    /// stream whose header claims 2 GiB never causes a 2 GiB allocation.
    func fill(_ out: inout [UInt8], to target: Int) throws {
        while out.count < target && !finished {
            let start = out.count
            let next = min(target, max(start * 2, start + (1 << 20)))
            // Grow with one zero-filled allocation (appending a repeated element is per-byte in debug builds).
            var grown = [UInt8](repeating: 0, count: next)
            grown.withUnsafeMutableBytes { dst in out.withUnsafeBytes { src in dst.copyMemory(from: src) } }
            out = grown
            var got = 0
            try out.withUnsafeMutableBytes { buf in
                got = try inflate(into: buf.baseAddress! + start, count: next - start)
            }
            out.removeLast(next - start - got)
        }
    }

    /// Inflates the rest of the stream, discarding it, to check the CRC and the size cap.
    func drain() throws {
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { scratch.deallocate() }
        while !finished { _ = try inflate(into: scratch, count: 1 << 16) }
    }

    /// Fills `[ptr, ptr+count)`; returns how many bytes were produced (fewer only at stream end).
    private func inflate(into ptr: UnsafeMutableRawPointer, count: Int) throws -> Int {
        var done = 0
        while done < count && !finished {
            if stream.avail_in == 0 && !inputEOF {
                let n = try file.readSome(into: inBuffer, count: inCapacity, input: input)
                if n == 0 { inputEOF = true } else {
                    stream.next_in = inBuffer.assumingMemoryBound(to: Bytef.self)
                    stream.avail_in = uInt(n)
                }
            }
            if !inMember {
                // Between members: skip zero padding; anything else must start a new member.
                while stream.avail_in > 0 && stream.next_in.pointee == 0 {
                    stream.next_in += 1
                    stream.avail_in -= 1
                }
                if stream.avail_in == 0 {
                    if inputEOF { finished = true }
                    continue
                }
                inflateReset(&stream)
                inMember = true
            }
            if stream.avail_in == 0 && inputEOF {
                throw corrupt(produced == 0 ? "the file is empty or not gzip" : "it ends before its trailer (truncated download?)")
            }
            // Never produce more than cap + 1 bytes in total.
            let room = min(count - done, cap + 1 - produced)
            stream.next_out = (ptr + done).assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(min(room, Int(UInt32.max)))
            let rc = CNIfTI.inflate(&stream, Z_NO_FLUSH)
            let made = room - Int(stream.avail_out)
            done += made
            produced += made
            switch rc {
            case Z_OK, Z_BUF_ERROR: break
            case Z_STREAM_END: inMember = false
            case Z_DATA_ERROR:
                let msg = stream.msg.map { String(cString: $0) } ?? "invalid data"
                throw corrupt(msg == "incorrect header check" ? "not gzip data (\(msg))" : msg)
            default: throw corrupt("zlib error \(rc)")
            }
            if produced > cap {
                throw ImagingError(.niftiGzipTooLarge, input: input,
                                   reason: "the gzip stream inflates to more than \(cap) bytes (a gzip bomb, or a scan far larger than its header says).",
                                   remedy: "Check where the file came from; raise maxDecompressedBytes only for a genuine huge scan.")
            }
        }
        return done
    }
}

/// Bytes per gzip member when compressing in parallel: large enough that the ratio loss of
/// restarting the dictionary is negligible (< 0.1 %), small enough to keep both cores busy.
let gzipMemberBytes = 4 << 20

/// Compresses `data` to gzip in memory. Inputs larger than `gzipMemberBytes` are split into
/// independent gzip members compressed in parallel and concatenated: a multi-member stream, which
/// gzip(1), zlib's gzread (libnifti, ITK), Python's gzip (nibabel) and our reader all read as one.
func gzipCompress(_ data: [UInt8], level: Int32 = 6) throws(ImagingError) -> [UInt8] {
    let memberCount = max(1, (data.count + gzipMemberBytes - 1) / gzipMemberBytes)
    var members = [Result<[UInt8], ImagingError>](repeating: .success([]), count: memberCount)
    data.withUnsafeBufferPointer { src in
        members.withUnsafeMutableBufferPointer { out in
            let input = SendableBuffer(base: UnsafeMutablePointer(mutating: src.baseAddress!))
            let output = SendableBuffer(base: out.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: memberCount) { m in
                let lo = m * gzipMemberBytes, hi = min(data.count, lo + gzipMemberBytes)
                let chunk = UnsafeRawBufferPointer(start: input.base + lo, count: hi - lo)
                output.base[m] = Result { () throws(ImagingError) in try gzipMember(chunk, level: level) }
            }
        }
    }
    if memberCount == 1 { return try members[0].get() }
    var joined: [UInt8] = []
    joined.reserveCapacity(members.reduce(0) { $0 + ((try? $1.get())?.count ?? 0) })
    for member in members { joined += try member.get() }
    return joined
}

/// Compresses one buffer to a single gzip member with libdeflate, which produces standard gzip
/// 3–5× faster than zlib at the same level and ratio (the reason segvol links it).
private func gzipMember(_ data: UnsafeRawBufferPointer, level: Int32) throws(ImagingError) -> [UInt8] {
    guard let compressor = libdeflate_alloc_compressor(level) else {
        throw ImagingError(.writeFailed, input: "", reason: "gzip compressor could not start (out of memory or level \(level) outside 1...12).",
                           remedy: "Use a compression level from 1 to 9; retry later if memory is short.")
    }
    defer { libdeflate_free_compressor(compressor) }
    // The bound is the size of incompressible input; label maps compress 20-30×, so the buffer
    // is reserved uninitialised and only the pages the compressor writes are ever touched.
    let bound = libdeflate_gzip_compress_bound(compressor, data.count)
    var written = 0
    let out = [UInt8](unsafeUninitializedCapacity: bound) { dst, count in
        written = libdeflate_gzip_compress(compressor, data.baseAddress, data.count, dst.baseAddress, bound)
        count = written
    }
    guard written > 0 else {
        throw ImagingError(.writeFailed, input: "", reason: "gzip compression failed.", remedy: "Retry; report if it persists.")
    }
    return out
}
